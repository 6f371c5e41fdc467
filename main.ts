/**
 * Entry point of the `voice-agent` service and binary.
 *
 * @module
 */
import { startApp } from "./src/app.ts";
import { parseCli, USAGE } from "./src/cli.ts";
import { ConfigError, loadConfig } from "./src/config.ts";
import { environmentWithDotenv } from "./src/env_file.ts";
import { setupLogging } from "./src/log.ts";
import { VERSION } from "./src/version.ts";

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
      console.error("the call simulator is not available in this build");
      return 2;
    case "serve":
      return await serve(command.envFile);
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
    console.error(error instanceof ConfigError ? error.message : (error as Error).message);
    return 1;
  }
  await setupLogging(config.log);
  const app = await startApp(config);
  let stopping = false;
  const onSignal = () => {
    if (stopping) Deno.exit(130); // second signal: exit now
    stopping = true;
    app.stop().catch(() => Deno.exit(1));
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  await app.server.finished;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
