/**
 * The media sockets of this process: which are open, and how many have not sent `start`
 * yet, per client address and overall. A socket before `start` has shown nothing but the
 * upgrade signature, which is the same for every call (Twilio signs the stream URL with no
 * parameters), so whoever has seen one can open many; {@linkcode MediaSockets.admit} refuses
 * them past a bound before upgrading. On shutdown {@linkcode MediaSockets.closeAll} closes
 * every open socket with a proper close frame and waits for the handshake.
 *
 * @example
 * ```ts
 * import type { TwilioStream } from "./media_stream.ts";
 * declare const remoteAddr: string;
 * declare const stream: TwilioStream;
 * const sockets = new MediaSockets(mediaSocketLimits(50));
 * if (sockets.admit(remoteAddr) === "ok") sockets.track(stream, remoteAddr);
 * else console.warn("busy: answer 503");
 * await sockets.closeAll(1000, "service shutting down", 2000);
 * ```
 *
 * @module
 */
import type { TwilioStream } from "./media_stream.ts";
import { raceTimer, systemClock } from "../clock.ts";

/** Bounds on sockets that have not sent `start`. */
export interface MediaSocketLimits {
  /** Overall. */
  maxPending: number;
  /** From one client address (behind a reverse proxy: the proxy's, so effectively overall). */
  maxPendingPerAddress: number;
}

/**
 * The limits for a service taking `maxCalls` calls. Each genuine socket before `start` is
 * a call the webhook admitted (so at most `maxCalls` of them), waiting one network round
 * trip for Twilio's `start`; a burst of calls can arrive through one address (a reverse
 * proxy, one Twilio edge), so one address may hold half of them.
 */
export function mediaSocketLimits(maxCalls: number): MediaSocketLimits {
  const maxPending = Math.max(16, maxCalls);
  return { maxPending, maxPendingPerAddress: Math.max(8, Math.ceil(maxPending / 2)) };
}

/** Why a new socket is refused. */
export type SocketRefusal = "too_many_pending" | "too_many_pending_from_address";

/** Open media sockets and their limits. */
export class MediaSockets {
  readonly #limits: MediaSocketLimits;
  readonly #open = new Set<TwilioStream>();
  readonly #pendingByAddress = new Map<string, number>();
  #pending = 0;

  /** @param limits bounds on sockets that have not sent `start` */
  constructor(limits: MediaSocketLimits) {
    this.#limits = limits;
  }

  /** Sockets open now. */
  get open(): number {
    return this.#open.size;
  }

  /** Sockets open now that have not sent `start`. */
  get pending(): number {
    return this.#pending;
  }

  /** Whether one more socket may be opened from `address`, or why not. */
  admit(address: string): "ok" | SocketRefusal {
    if (this.#pending >= this.#limits.maxPending) return "too_many_pending";
    if ((this.#pendingByAddress.get(address) ?? 0) >= this.#limits.maxPendingPerAddress) {
      return "too_many_pending_from_address";
    }
    return "ok";
  }

  /** Tracks a new stream: pending until its `start` or close, open until its close. */
  track(stream: TwilioStream, address: string): void {
    this.#open.add(stream);
    this.#pending++;
    this.#pendingByAddress.set(address, (this.#pendingByAddress.get(address) ?? 0) + 1);
    let pending = true;
    const settle = () => {
      if (!pending) return;
      pending = false;
      this.#pending--;
      const left = (this.#pendingByAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#pendingByAddress.set(address, left);
      else this.#pendingByAddress.delete(address);
    };
    const offStart = stream.on("start", () => {
      offStart();
      settle();
    });
    const offClose = stream.on("close", () => {
      offClose();
      settle();
      this.#open.delete(stream);
    });
  }

  /**
   * Closes every open socket with `code` (a close frame, so Twilio sees a clean end) and
   * waits up to `waitMs` for the closing handshakes, so a server shutdown right after does
   * not cut them off.
   */
  async closeAll(code: number, reason: string, waitMs: number): Promise<void> {
    const closed = [...this.#open].map((stream) =>
      new Promise<void>((resolve) => {
        const off = stream.on("close", () => {
          off();
          resolve();
        });
        stream.close(code, reason);
      })
    );
    if (closed.length === 0) return;
    await raceTimer(systemClock, Promise.all(closed), waitMs, () => undefined);
  }
}
