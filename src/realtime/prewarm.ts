/**
 * Pre-warmed Realtime connections, keyed by CallSid.
 *
 * At the voice webhook the service starts opening and configuring a model session while
 * Twilio is still setting up the media stream; when the stream starts, the call claims it.
 * Unclaimed ones (the stream landed on another instance, the caller hung up) close after a
 * short timeout. A claim that finds nothing, or a failed warm-up, falls back to a fresh
 * connection, so pre-warming only ever saves time.
 *
 * @example
 * ```ts
 * import { RealtimeConnection, type RealtimeConnectionOptions } from "./connection.ts";
 * declare const pool: PrewarmPool;
 * declare const opts: RealtimeConnectionOptions;
 * declare const callSid: string;
 * pool.warm(callSid, () => new RealtimeConnection(opts)); // at POST /twilio/voice
 * const conn = await pool.claim(callSid) ?? new RealtimeConnection(opts); // at the stream's `start`
 * ```
 *
 * @module
 */
import { type Logger, logger as baseLogger } from "../log.ts";
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { RealtimeConnection } from "./connection.ts";

/** Options of {@linkcode PrewarmPool}. */
export interface PrewarmPoolOptions {
  /** Close a warmed connection nobody claimed after this long, ms. Default 15000. */
  ttlMs?: number;
  /** Most connections warmed at once (protects against webhook floods). Default 100. */
  maxEntries?: number;
  logger?: Logger;
  /** Times the unclaimed entries (default: the system clock). */
  clock?: Clock;
}

/** Counters for metrics and tests. */
export interface PrewarmStats {
  warmed: number;
  claimed: number;
  expired: number;
  failed: number;
  rejected: number;
}

interface Entry {
  conn: RealtimeConnection;
  ready: Promise<boolean>;
  timer: TimerHandle;
}

/** Connections warmed per CallSid, handed over once. See the module documentation. */
export class PrewarmPool {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #stats: PrewarmStats = { warmed: 0, claimed: 0, expired: 0, failed: 0, rejected: 0 };

  /** Creates an empty pool. */
  constructor(opts: PrewarmPoolOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? 15000;
    this.#max = opts.maxEntries ?? 100;
    this.#log = opts.logger ?? baseLogger("realtime", "prewarm");
    this.#clock = opts.clock ?? systemClock;
  }

  /** Counters (live object). */
  get stats(): Readonly<PrewarmStats> {
    return this.#stats;
  }

  /** Number of connections waiting to be claimed. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Starts a connection for `callSid` (no-op if one exists or the pool is full; returns
   * whether it started). Never throws; a failed warm-up just means no pre-warmed session.
   */
  warm(callSid: string, factory: () => RealtimeConnection): boolean {
    if (this.#entries.has(callSid)) return false;
    if (this.#entries.size >= this.#max) {
      this.#stats.rejected++;
      this.#log.warn("pre-warm pool full; call {callSid} will connect at stream start", {
        callSid,
      });
      return false;
    }
    const conn = factory();
    const ready = conn.connect().then(() => true, (err) => {
      this.#stats.failed++;
      this.#log.warn("pre-warm for {callSid} failed: {message}", {
        callSid,
        message: errorMessage(err),
      });
      return false;
    });
    const timer = this.#clock.setTimeout(() => {
      if (this.#entries.get(callSid)?.conn !== conn) return;
      this.#entries.delete(callSid);
      this.#stats.expired++;
      this.#log.info("pre-warmed session for {callSid} unclaimed; closing", { callSid });
      conn.close("pre-warm unclaimed");
    }, this.#ttlMs);
    this.#entries.set(callSid, { conn, ready, timer });
    this.#stats.warmed++;
    return true;
  }

  /**
   * Takes the warmed connection for `callSid`, waiting for its warm-up to finish. Returns
   * undefined when there is none or it failed; the caller then opens a fresh one.
   */
  async claim(callSid: string): Promise<RealtimeConnection | undefined> {
    const entry = this.#entries.get(callSid);
    if (!entry) return undefined;
    this.#entries.delete(callSid);
    this.#clock.clearTimeout(entry.timer);
    const ok = await entry.ready;
    if (!ok || entry.conn.state !== "open") {
      entry.conn.close("pre-warm not usable");
      return undefined;
    }
    this.#stats.claimed++;
    this.#log.info("claimed pre-warmed session for {callSid}", { callSid });
    return entry.conn;
  }

  /** Closes every unclaimed connection (shutdown) and waits for their warm-ups to settle. */
  async closeAll(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) {
      this.#clock.clearTimeout(e.timer);
      e.conn.close("pool closed");
    }
    await Promise.all(entries.map((e) => e.ready));
  }
}
