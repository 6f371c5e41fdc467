/**
 * What `GET /readyz` answers: whether this instance should get new calls. The database
 * must answer a ping within a second (a hung database never holds the check), and writes
 * must not be failing: the store's write operations report their failures here, and while
 * one is recent a no-op write transaction probes whether writes work again. The answer
 * holds fixed words only (`ok`, `not answering`, …); the errors themselves go to the log,
 * never to whoever asks.
 *
 * @example
 * ```ts
 * import type { BookingStore } from "./booking/types.ts";
 * declare const rawStore: BookingStore;
 * const writes = new WriteHealth();
 * const store = watchWrites(rawStore, writes);
 * const { ready, checks } = await checkReadiness({ store, writes, draining: () => false });
 * ```
 *
 * @module
 */
import type { BookingStore } from "./booking/types.ts";
import { StoreBusyError } from "./booking/store_core.ts";
import { DateInputError } from "./booking/availability.ts";
import { logger, LogLimiter } from "./log.ts";
import { type Clock, raceTimer, systemClock } from "./clock.ts";
import { errorMessage } from "./errors.ts";

const log = logger("readiness");

/** Store operations that write; their failures make the instance not ready. */
const WRITE_METHODS: ReadonlySet<string> = new Set(["book", "cancel", "reschedule", "saveCall"]);

/** How long a failed write keeps the instance not ready (unless a later write succeeds). */
export const WRITE_FAILURE_WINDOW_MS = 60_000;

/** The outcome of the last writes: when the last one failed, if it did. */
export class WriteHealth {
  readonly #clock: Clock;
  #failedAt: number | undefined;

  /** @param clock time source (tests) */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** A write succeeded: earlier failures are over. */
  succeeded(): void {
    this.#failedAt = undefined;
  }

  /** A write failed. Contention (a busy lock) and bad input are not failures of the database. */
  failed(error: unknown): void {
    if (
      error instanceof StoreBusyError || error instanceof DateInputError ||
      error instanceof TypeError || error instanceof RangeError
    ) return;
    this.#failedAt = this.#clock.now();
  }

  /** Milliseconds since the last write failed, if no write has succeeded since. */
  failedMsAgo(): number | undefined {
    return this.#failedAt === undefined ? undefined : this.#clock.now() - this.#failedAt;
  }
}

/**
 * The store, with the outcome of every write operation reported to `health`. Everything
 * else passes through unchanged.
 */
export function watchWrites(store: BookingStore, health: WriteHealth): BookingStore {
  return new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      if (typeof name !== "string" || !WRITE_METHODS.has(name)) return value.bind(target);
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        result.then(() => health.succeeded(), (error) => health.failed(error));
        return result;
      };
    },
  });
}

/** What {@linkcode checkReadiness} looks at. */
export interface ReadinessDeps {
  store: Pick<BookingStore, "ping" | "abandonStaleCalls">;
  writes: WriteHealth;
  draining(): boolean;
  /** Whether Twilio signatures are checked (shown, never a reason to be unready). */
  signaturesChecked?: boolean;
  /** Longest wait for the database, ms; default 1000. */
  timeoutMs?: number;
}

/** The readiness answer: fixed words only. */
export interface Readiness {
  ready: boolean;
  checks: Record<string, string>;
}

// The load balancer asks every few seconds: a failing database is logged a few times a minute.
const failureLog = new LogLimiter({ burst: 6, windowMs: 60_000 });

function logFailure(what: string, error: unknown): void {
  if (failureLog.take().write) {
    log.warn("not ready: {what}: {error}", { what, error: errorMessage(error) });
  }
}

/** Resolves with `work`'s outcome, or rejects once `ms` have passed. */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  return raceTimer(systemClock, work, ms, () => {
    throw new Error(`no answer within ${ms} ms`);
  });
}

/** Checks the database (ping, and writes when they failed lately) and the drain state. */
export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const timeoutMs = deps.timeoutMs ?? 1000;
  const checks: Record<string, string> = { draining: deps.draining() ? "yes" : "no" };
  let ready = !deps.draining();
  if (deps.signaturesChecked !== undefined) {
    checks.twilioSignatures = deps.signaturesChecked ? "checked" : "NOT CHECKED";
  }
  try {
    await within(deps.store.ping(), timeoutMs);
    checks.database = "ok";
  } catch (error) {
    logFailure("database ping failed", error);
    checks.database = /no answer within/.test(errorMessage(error))
      ? "not answering"
      : "unreachable";
    return { ready: false, checks };
  }
  const failedMsAgo = deps.writes.failedMsAgo();
  if (failedMsAgo !== undefined) {
    // A write transaction that changes nothing: do writes work again?
    try {
      await within(
        deps.store.abandonStaleCalls(Temporal.Instant.fromEpochMilliseconds(0)),
        timeoutMs,
      );
      if (failedMsAgo >= WRITE_FAILURE_WINDOW_MS) deps.writes.succeeded();
    } catch (error) {
      logFailure("database write probe failed", error);
      deps.writes.failed(error);
    }
    if (deps.writes.failedMsAgo() !== undefined) {
      checks.database = "writes failing";
      ready = false;
    }
  }
  return { ready, checks };
}
