/**
 * `deno task compile [--target TARGET] [--output PATH]`: builds the single `voice-agent`
 * binary with `deno compile`, with the permissions and runtime flags of `deno task start` baked
 * in and `assets/` embedded.
 *
 * `deno compile` needs `denort`, the Deno runtime for the target, of the same version as
 * this `deno`: it downloads it the first time, or takes the file `DENORT_BIN` names. When
 * neither works (no internet, `DENORT_BIN` pointing at the wrong file) this prints one line
 * that says where to get `denort` and how to use it, and leaves no half-written binary.
 *
 * @module
 */
import { parseArgs, stripVTControlCharacters } from "node:util";
import { basename, dirname, join, resolve } from "node:path";
import { errorMessage } from "../src/errors.ts";

/** The permissions the binary runs with: exactly those of `deno task start`. */
export const COMPILE_PERMISSIONS = [
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-sys",
] as const;

/**
 * The runtime flags the service runs with: those of `deno task start`, baked into the binary
 * (the systemd unit in README.md runs it). Both trade nothing measurable for memory (see
 * BENCHMARKS.md, "Idle memory" and "Memory per call"):
 * - a smaller young generation (semi-space) keeps V8 from growing the heap under the
 *   per-frame allocation rate of many calls;
 * - no V8 code cache: with it every cached function is loaded at start, compiled or not
 *   (~4 MiB of idle RSS); without it functions compile lazily, once.
 */
export const SERVICE_FLAGS = ["--v8-flags=--max-semi-space-size=4", "--no-code-cache"] as const;

/** Folders embedded in the binary (read at run time relative to the module). */
export const COMPILE_INCLUDES = ["assets", "src/console/static"] as const;

/** Where the binary goes unless `--output` says otherwise. */
export const DEFAULT_OUTPUT = "dist/voice-agent";

/** The `deno compile` arguments (after `deno`) for a target and output path. */
export function compileArgs(options: { target?: string; output?: string } = {}): string[] {
  return [
    "compile",
    ...COMPILE_PERMISSIONS,
    ...SERVICE_FLAGS,
    ...COMPILE_INCLUDES.flatMap((dir) => ["--include", dir]),
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    options.output ?? DEFAULT_OUTPUT,
    "main.ts",
  ];
}

/** Where Deno publishes `denort` for `version` and `target` (what `deno compile` downloads). */
export function denortUrls(version: string, target: string): { download: string; release: string } {
  return {
    download: `https://dl.deno.land/release/v${version}/denort-${target}.zip`,
    release: `https://github.com/denoland/deno/releases/download/v${version}/denort-${target}.zip`,
  };
}

/** What to do to get `denort`, as one sentence. */
function howToGetDenort(version: string, target: string): string {
  const urls = denortUrls(version, target);
  return `download ${urls.download} (or ${urls.release}) on a machine with internet, unzip it, ` +
    "and run DENORT_BIN=/path/to/denort deno task compile" +
    (target === Deno.build.target ? "" : ` --target ${target}`);
}

/**
 * Checks the file `DENORT_BIN` names before `deno compile` sees it (the `deno` CLI itself
 * makes `deno compile` crash with a stack overflow). Returns a problem, or undefined.
 */
export async function checkDenortBin(
  path: string,
  version: string,
  target: string,
): Promise<string | undefined> {
  const fix = howToGetDenort(version, target);
  let head: Uint8Array;
  try {
    const file = await Deno.open(path);
    try {
      head = new Uint8Array(4);
      await file.read(head);
    } finally {
      file.close();
    }
  } catch (error) {
    return `DENORT_BIN=${path} cannot be read (${errorMessage(error)}): ${fix}`;
  }
  if (head[0] === 0x50 && head[1] === 0x4b) {
    return `DENORT_BIN=${path} is the zip archive: unzip it and point DENORT_BIN at the ` +
      "denort file inside";
  }
  // `deno --version` prints "deno X.Y.Z (...)"; denort is not the CLI and prints no such line.
  try {
    const out = await new Deno.Command(path, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(10_000),
    }).output();
    const first = new TextDecoder().decode(out.stdout).split("\n")[0];
    if (/^deno \d+\.\d+/.test(first)) {
      return `DENORT_BIN=${path} is the deno command-line tool (${first.trim()}), not denort, ` +
        `the runtime deno compile builds on: ${fix}`;
    }
  } catch { /* not runnable here (another target, or no --allow-run): deno compile decides */ }
  return undefined;
}

/** Removes the `OUTPUT.tmp-*` files a failed `deno compile` can leave next to the output. */
export async function removeTempOutputs(output: string): Promise<string[]> {
  const dir = dirname(resolve(output));
  const prefix = `${basename(output)}.tmp-`;
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.startsWith(prefix)) {
        await Deno.remove(join(dir, entry.name));
        removed.push(entry.name);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed;
}

/** Turns `deno compile`'s failure into one line that says what to do. */
export function explainCompileFailure(
  stderr: string,
  code: number,
  version: string,
  target: string,
): string {
  const text = stripVTControlCharacters(stderr);
  const fix = howToGetDenort(version, target);
  if (
    /dl\.deno\.land|denort|Setting up base binary/i.test(text) &&
    /request|connect|dns|download/i.test(text)
  ) {
    return `deno task compile: cannot download denort, the Deno ${version} runtime for ${target} ` +
      `(no internet here?): ${fix}`;
  }
  if (/stack overflow/i.test(text) || code >= 128) {
    return `deno task compile: deno compile crashed (exit ${code}); if DENORT_BIN is set it must ` +
      `be denort ${version} for ${target}: ${fix}`;
  }
  const error = /error: (.*)/.exec(text)?.[1] ?? text.trim().split("\n").at(-1) ?? "";
  const cause = [...text.matchAll(/^\s+\d+: (.*)$/gm)].at(-1)?.[1];
  return `deno task compile: deno compile failed: ${error}${cause ? ` (${cause})` : ""}`;
}

/** Runs the build; returns the exit code. Prints one line to stderr on failure. */
export async function compile(
  argv: string[],
  env: { denortBin?: string } = { denortBin: Deno.env.get("DENORT_BIN") },
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { target: { type: "string" }, output: { type: "string" } },
      strict: true,
    }));
  } catch (error) {
    console.error(
      `deno task compile: ${errorMessage(error)}; usage: deno task compile ` +
        "[--target TARGET] [--output PATH]",
    );
    return 2;
  }
  const target = values.target ?? Deno.build.target;
  const output = values.output ??
    (values.target ? `${DEFAULT_OUTPUT}-${values.target}` : DEFAULT_OUTPUT);
  const version = Deno.version.deno;
  if (env.denortBin) {
    const problem = await checkDenortBin(env.denortBin, version, target);
    if (problem) {
      console.error(`deno task compile: ${problem}`);
      return 1;
    }
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: compileArgs({ target: values.target, output }),
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  const result = await child.output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.success) {
    await Deno.stderr.write(result.stderr);
    return 0;
  }
  await removeTempOutputs(output);
  console.error(explainCompileFailure(stderr, result.code, version, target));
  return 1;
}

if (import.meta.main) Deno.exit(await compile(Deno.args));
