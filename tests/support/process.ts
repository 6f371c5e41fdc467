/** Helpers for tests that run the service as a real process. */
import { fileURLToPath } from "node:url";

/** Finds a free TCP port on 127.0.0.1 (closed again before returning). */
export function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return Promise.resolve(port);
}

/** Polls `GET base/healthz` until it answers 200 or the timeout passes. */
export async function waitForHealth(
  base: string,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return await res.json();
      await res.body?.cancel();
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`service at ${base} did not become healthy: ${lastError}`);
}

/** The repository's `main.ts` and `deno.json`, as paths. */
export const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
export const DENO_CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

/** Only what deno needs to find its cache: nothing else of this process leaks in. */
export const DENO_BASE_ENV: Record<string, string> = Object.fromEntries(
  ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME"].flatMap((k) => {
    const v = Deno.env.get(k);
    return v === undefined ? [] : [[k, v]];
  }),
);

/** The permission flags of a deno.json task (`deno run FLAGS main.ts ...`). */
export async function taskFlags(task: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(DENO_CONFIG)) as {
    tasks: Record<string, string>;
  };
  return config.tasks[task].split(/\s+/).filter((w) => w.startsWith("--allow-"));
}

/**
 * `deno run FLAGS main.ts ARGS` as an operator would run it: a clean environment (plus
 * `env`), the repository's config, any working directory.
 */
export function runMain(
  args: string[],
  flags: string[],
  env: Record<string, string>,
  cwd?: string,
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--config", DENO_CONFIG, ...flags, MAIN, ...args],
    env: { ...DENO_BASE_ENV, NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd,
    stdout: "piped",
    stderr: "piped",
  });
}
