/**
 * Entry point of the `voice-agent` service and binary.
 *
 * @module
 */
import { parseCli, USAGE } from "./src/cli.ts";
import { loadConfig } from "./src/config.ts";
import { environmentWithDotenv } from "./src/env_file.ts";
import { setupLogging } from "./src/log.ts";
import { VERSION } from "./src/version.ts";
import { errorMessage } from "./src/errors.ts";

async function main(argv: string[]): Promise<number> {
  const command = parseCli(argv);
  switch (command.kind) {
    case "help":
      console.log(USAGE);
      return 0;
    case "version":
      console.log(VERSION);
      return 0;
    case "error":
      console.error(`${command.message}\n\n${USAGE}`);
      return 2;
    case "call":
      // Imported on demand (see serve) so a missing permission met while loading is caught.
      return await (await import("./src/sim/cli.ts")).runSimulatorCli(
        command.args,
        command.envFile,
      );
    case "serve":
      return await serve(command.envFile);
    case "console-password":
      return await consolePassword();
  }
}

async function serve(envFile: string | undefined): Promise<number> {
  let config;
  try {
    config = loadConfig(await environmentWithDotenv(envFile), {
      isTty: Deno.stdout.isTerminal(),
    });
  } catch (error) {
    // Operators get the message, not a stack trace.
    console.error(permissionMessage(error) ?? errorMessage(error));
    return 1;
  }
  await setupLogging(config.log);
  // Loaded here, not at the top: some npm dependencies read the environment while loading,
  // and a missing permission must reach the one-line handler below, not crash the import.
  // (A string-literal specifier, so `deno compile` still embeds it.)
  const { startApp } = await import("./src/app.ts");
  let app;
  try {
    app = await startApp(config);
  } catch (error) {
    // A broken business profile, an unreachable database, a port in use: one clear
    // message for the operator (BusinessProfileError lists every field at fault).
    console.error(
      permissionMessage(error) ?? `voice-agent cannot start: ${errorMessage(error)}`,
    );
    return 1;
  }
  let stopping = false;
  const onSignal = () => {
    if (stopping) Deno.exit(130); // second signal: exit now
    stopping = true;
    app.stop().catch(() => Deno.exit(1));
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  // SIGHUP re-reads BUSINESS_FILE; a broken file is refused and the old profile stays.
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", () => app.reloadProfile());
  await app.server.finished;
  return 0;
}

/** Reads a password (first line of stdin) and prints the `CONSOLE_PASSWORD_HASH` line. */
async function consolePassword(): Promise<number> {
  const { hashPassword } = await import("./src/console/password.ts");
  if (Deno.stdin.isTerminal()) console.error("Console password (input is shown):");
  const text = await new Response(Deno.stdin.readable).text();
  const password = text.split(/\r?\n/)[0];
  if (password.length < 12) {
    console.error("voice-agent: the console password must be at least 12 characters");
    return 1;
  }
  console.log(`CONSOLE_PASSWORD_HASH=${await hashPassword(password)}`);
  return 0;
}

/**
 * One readable line for a missing permission (e.g. a binary or task run without
 * `--allow-net`), instead of a stack trace; undefined for any other error.
 */
function permissionMessage(error: unknown): string | undefined {
  if (!(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)) {
    return undefined;
  }
  // Deno's message names the permission and the flag, e.g. "Requires net access to
  // "127.0.0.1:8080", run again with the --allow-net flag"; keep its first line only.
  const first = errorMessage(error).split("\n")[0];
  return `voice-agent cannot start: missing permission: ${first}`;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    const message = permissionMessage(error);
    if (message === undefined) throw error;
    console.error(message);
    code = 1;
  }
  Deno.exit(code);
}
