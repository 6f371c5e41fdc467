/**
 * Command-line parsing for the `voice-agent` binary (and `deno task start`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { VERSION } from "./version.ts";
import { errorMessage } from "./errors.ts";

/** What the command line asked for. */
export type CliCommand =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "serve"; envFile?: string }
  | { kind: "call"; envFile?: string; args: string[] }
  | { kind: "console-password" }
  | { kind: "error"; message: string };

/** Usage text printed by `--help`. */
export const USAGE =
  `voice-agent ${VERSION}: a phone receptionist (Twilio Media Streams <-> OpenAI Realtime)

Usage:
  voice-agent [serve] [--env-file PATH]   run the service (default command)
  voice-agent call [options]              act as Twilio and place a simulated call (see --help)
  voice-agent console-password            read a password on stdin, print CONSOLE_PASSWORD_HASH=…
  voice-agent --help | --version

Configuration comes from the environment and from a .env file in the working directory
(or the file given with --env-file); variables already set in the environment win.
See README.md for every variable.`;

/** Parses `Deno.args`-style arguments. Never throws. */
export function parseCli(argv: string[]): CliCommand {
  const [first, ...rest] = argv;
  if (first === "call") return { kind: "call", args: rest, envFile: findEnvFile(rest) };
  if (first === "console-password" && rest.length === 0) return { kind: "console-password" };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
        "env-file": { type: "string" },
      },
    });
  } catch (error) {
    return { kind: "error", message: errorMessage(error) };
  }
  if (parsed.values.help) return { kind: "help" };
  if (parsed.values.version) return { kind: "version" };
  const positionals = parsed.positionals;
  if (positionals.length > 1 || (positionals.length === 1 && positionals[0] !== "serve")) {
    return { kind: "error", message: `unknown command: ${positionals.join(" ")}` };
  }
  return { kind: "serve", envFile: parsed.values["env-file"] };
}

function findEnvFile(args: string[]): string | undefined {
  const i = args.indexOf("--env-file");
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith("--env-file="));
  return eq?.slice("--env-file=".length);
}
