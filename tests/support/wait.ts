/**
 * Waiting in tests, always with a deadline: a test that waits for something that never
 * happens fails with a message saying what it waited for, it never hangs.
 *
 * @module
 */

/**
 * Polls `predicate` every 20 ms until it is true; rejects after `timeoutMs` with
 * `what` (and `detail()`, e.g. the state seen last) in the message.
 */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = "condition",
  detail?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      const seen = detail ? `; ${detail()}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves like `promise`, or rejects after `timeoutMs` naming `what`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `ws` is open; rejects if it closes or errs first, or after `timeoutMs`. */
export function opened(ws: WebSocket, timeoutMs = 5000): Promise<void> {
  if (ws.readyState === WebSocket.OPEN) return Promise.resolve();
  const open = new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener(
      "close",
      (e) => reject(new Error(`socket closed before opening (${e.code} ${e.reason})`)),
      { once: true },
    );
  });
  return within(open, timeoutMs, "the socket to open");
}
