/** Helpers for tests that run the service as a real process. */

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
