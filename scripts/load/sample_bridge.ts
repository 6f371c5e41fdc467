/**
 * The public Twilio sample (twilio-samples/speech-assistant-openai-realtime-api-node, Node
 * 20 + fastify + ws) as a bridge the load harness can run: finds its source, installs its
 * npm packages once into a cache folder outside the repository, and builds the `node`
 * command line (with the in-bridge probe `node_probe.mjs` preloaded).
 *
 * Source: `LOAD_SAMPLE_DIR`, else the first `shared/peers/twilio-sample` found in a parent
 * folder of the repository (the project keeps it in `../shared/peers/twilio-sample`).
 * Install: `$LOAD_CACHE_DIR` (default `$XDG_CACHE_HOME/voice-agent-load` or
 * `~/.cache/voice-agent-load`) `/twilio-sample-<hash of its files>`, by `npm ci` from the
 * npm registry. Nothing of the sample is copied into the repository.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Why the sample cannot run here (no Node, no npm, no source, install failed). */
export class SampleUnavailable extends Error {
  override name = "SampleUnavailable";
}

/** The files of the sample the harness copies (its code and lock file, nothing else). */
const FILES = ["index.js", "package.json", "package-lock.json", "LICENSE"];
/** The oldest Node the sample supports. */
const MIN_NODE_MAJOR = 20;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The folder holding the sample's `index.js`. */
export async function findSampleSource(): Promise<string> {
  const configured = Deno.env.get("LOAD_SAMPLE_DIR");
  if (configured) {
    if (await exists(join(configured, "index.js"))) return resolve(configured);
    throw new SampleUnavailable(`LOAD_SAMPLE_DIR=${configured} holds no index.js`);
  }
  for (let dir = dirname(repoRoot);; dir = dirname(dir)) {
    const candidate = join(dir, "shared", "peers", "twilio-sample");
    if (await exists(join(candidate, "index.js"))) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new SampleUnavailable(
    "the public Twilio sample was not found: set LOAD_SAMPLE_DIR to its folder " +
      "(the one with index.js and package-lock.json), or leave `sample` out of --bridges",
  );
}

/** The harness's cache folder (outside the repository). */
export function cacheRoot(): string {
  const configured = Deno.env.get("LOAD_CACHE_DIR");
  if (configured) return configured;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  const home = Deno.env.get("HOME");
  if (xdg) return join(xdg, "voice-agent-load");
  if (home) return join(home, ".cache", "voice-agent-load");
  return join(Deno.env.get("TMPDIR") ?? "/tmp", "voice-agent-load");
}

async function run(
  command: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; out: string }> {
  try {
    const r = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
      .output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: r.code, out: (decode(r.stdout) + decode(r.stderr)).trim() };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { code: 127, out: `${command}: not found` };
    throw error;
  }
}

/** Node's version (e.g. "v20.20.2"), checked to be new enough for the sample. */
export async function nodeVersion(): Promise<string> {
  const node = await run("node", ["--version"]);
  if (node.code !== 0) {
    throw new SampleUnavailable(
      `the public sample needs Node ${MIN_NODE_MAJOR}+ on PATH (${node.out}); install Node ` +
        "or leave `sample` out of --bridges",
    );
  }
  const major = Number(/^v(\d+)/.exec(node.out)?.[1]);
  if (!(major >= MIN_NODE_MAJOR)) {
    throw new SampleUnavailable(`the public sample needs Node ${MIN_NODE_MAJOR}+, not ${node.out}`);
  }
  return node.out;
}

/** A prepared sample: its folder (with node_modules) and the Node that runs it. */
export interface PreparedSample {
  dir: string;
  nodeVersion: string;
  /** Whether this call installed the packages (false: they were in the cache). */
  installed: boolean;
}

/**
 * Copies the sample into the cache and installs its packages with `npm ci`, unless a
 * finished install of these exact files is there already. Throws
 * {@linkcode SampleUnavailable} with what to do when it cannot.
 */
export async function prepareSample(
  say: (line: string) => void = () => {},
): Promise<PreparedSample> {
  const version = await nodeVersion();
  const source = await findSampleSource();
  const contents = await Promise.all(
    FILES.map((f) => Deno.readFile(join(source, f)).catch(() => new Uint8Array())),
  );
  const all = new Uint8Array(contents.reduce((n, c) => n + c.length, 0));
  contents.reduce((at, c) => (all.set(c, at), at + c.length), 0);
  const hash = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", all)))
    .map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 12);
  const root = cacheRoot();
  const dir = join(root, `twilio-sample-${hash}`);
  const marker = join(dir, ".installed");
  if (await exists(marker)) return { dir, nodeVersion: version, installed: false };

  const npm = await run("npm", ["--version"]);
  if (npm.code !== 0) {
    throw new SampleUnavailable(
      `the public sample's packages install with npm, which is missing (${npm.out})`,
    );
  }
  say(`installing the public sample's npm packages into ${dir} (once)`);
  const staging = `${dir}.tmp-${Deno.pid}`;
  await Deno.remove(staging, { recursive: true }).catch(() => {});
  await Deno.mkdir(staging, { recursive: true });
  for (const [i, f] of FILES.entries()) {
    if (contents[i].length > 0) await Deno.writeFile(join(staging, f), contents[i]);
  }
  const install = await run(
    "npm",
    ["ci", "--no-audit", "--no-fund", "--loglevel=error", "--cache", join(root, "npm-cache")],
    staging,
  );
  if (install.code !== 0) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw new SampleUnavailable(
      `npm ci for the public sample failed (exit ${install.code}) in ${staging}; it needs the ` +
        `npm registry. npm said: ${install.out.split("\n").slice(-5).join(" | ")}`,
    );
  }
  await Deno.writeTextFile(join(staging, ".installed"), new Date().toISOString() + "\n");
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.rename(staging, dir);
  return { dir, nodeVersion: version, installed: true };
}

/** The probe module `node --import` loads before the sample. */
export const NODE_PROBE_URL: string = new URL("./node_probe.mjs", import.meta.url).href;
