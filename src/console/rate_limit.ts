/**
 * Login rate limit: failed attempts are counted per client address over a sliding window,
 * and across all clients (so guessing from many addresses is slowed down too). Behind a
 * reverse proxy every request comes from the proxy's address, so the per-client limit acts
 * as a global one; that errs on the safe side.
 *
 * An attempt counts as a failure from the moment it starts (the password check takes tens
 * of milliseconds), so a burst of parallel guesses cannot slip past the limit; a success
 * takes its own attempt back and clears the client's failures.
 *
 * @module
 */

/** Limits of {@linkcode LoginRateLimiter}. */
export interface LoginLimits {
  /** Failures one client may have within the window (default 5). */
  perClient: number;
  /** Failures all clients together may have within the window (default 50). */
  global: number;
  /** Window length, ms (default 15 minutes). */
  windowMs: number;
}

const DEFAULT_LIMITS: LoginLimits = { perClient: 5, global: 50, windowMs: 15 * 60_000 };
const MAX_CLIENTS = 10_000;

/** Outcome of {@linkcode LoginRateLimiter.begin}. */
export type AttemptPermit =
  | { allowed: true; /** Call when the password was right. */ succeeded(): void }
  | { allowed: false; /** Seconds until another attempt is allowed. */ retryAfterSeconds: number };

/** Counts failed logins. */
export class LoginRateLimiter {
  readonly #limits: LoginLimits;
  readonly #now: () => number;
  readonly #clients = new Map<string, number[]>();
  #all: number[] = [];

  /** `limits` override the defaults; `now` is the clock. */
  constructor(limits: Partial<LoginLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
    this.#now = now;
  }

  /** Starts an attempt from `client`, or refuses it with how long to wait. */
  begin(client: string): AttemptPermit {
    const now = this.#now();
    const since = now - this.#limits.windowMs;
    this.#all = this.#all.filter((t) => t > since);
    const mine = (this.#clients.get(client) ?? []).filter((t) => t > since);
    const full = mine.length >= this.#limits.perClient
      ? mine
      : this.#all.length >= this.#limits.global
      ? this.#all
      : undefined;
    if (full) {
      const retryAfterSeconds = Math.max(
        1,
        Math.ceil((full[0] + this.#limits.windowMs - now) / 1000),
      );
      return { allowed: false, retryAfterSeconds };
    }
    if (!this.#clients.has(client) && this.#clients.size >= MAX_CLIENTS) this.#prune(since);
    mine.push(now);
    this.#all.push(now);
    this.#clients.set(client, mine);
    return {
      allowed: true,
      succeeded: () => {
        this.#clients.delete(client);
        const i = this.#all.lastIndexOf(now);
        if (i >= 0) this.#all.splice(i, 1);
      },
    };
  }

  #prune(since: number): void {
    for (const [client, times] of this.#clients) {
      if (times.every((t) => t <= since)) this.#clients.delete(client);
    }
    // Still full of active clients: forget the oldest (the global count still holds).
    while (this.#clients.size >= MAX_CLIENTS) {
      this.#clients.delete(this.#clients.keys().next().value!);
    }
  }
}
