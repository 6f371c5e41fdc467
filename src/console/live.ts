/**
 * What the operator console needs to know about calls in progress on this instance, and a
 * feed that tells the live page when that changes.
 *
 * The console depends only on {@linkcode LiveCallFeed}. Today the feed is built by
 * {@linkcode pollingLiveFeed} from any {@linkcode LiveCallSource} (the call manager's
 * `liveCalls()` snapshots); a call layer with its own event stream can implement the feed
 * directly and push changes instead of being polled.
 *
 * Several instances behind a load balancer each see only their own calls.
 *
 * @module
 */

import type { LiveCallView } from "../call/live_view.ts";

export type { LiveCallState, LiveCallView, LiveTranscriptLine } from "../call/live_view.ts";

/** Calls in progress, and notice when any of them changes. */
export interface LiveCallFeed {
  /** The calls in progress now. */
  list(): LiveCallView[];
  /**
   * Calls `fn` with the whole list whenever it changes (a call starts, ends, changes state
   * or its transcript grows). Returns the unsubscribe function.
   */
  subscribe(fn: (calls: LiveCallView[]) => void): () => void;
}

/** Anything that can list snapshots of its live calls (the call manager). */
export interface LiveCallSource {
  /** Snapshots of the calls in progress. */
  liveCalls(): LiveCallView[];
}

/** Options of {@linkcode pollingLiveFeed}. */
export interface PollingFeedOptions {
  /** How often to look while someone is subscribed, ms (default 400). */
  intervalMs?: number;
}

/**
 * A {@linkcode LiveCallFeed} that polls `source` while at least one subscriber listens (no
 * timer runs otherwise) and notifies only when the snapshot differs from the last one.
 *
 * @example
 * ```ts
 * declare const callManager: LiveCallSource;
 * const feed = pollingLiveFeed(callManager);
 * const stop = feed.subscribe((calls) => console.log(calls.length, "live calls"));
 * stop();
 * ```
 */
export function pollingLiveFeed(
  source: LiveCallSource,
  options: PollingFeedOptions = {},
): LiveCallFeed {
  const intervalMs = options.intervalMs ?? 400;
  const subscribers = new Set<(calls: LiveCallView[]) => void>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let last = "";

  const poll = () => {
    const calls = source.liveCalls();
    const text = JSON.stringify(calls);
    if (text === last) return;
    last = text;
    for (const fn of [...subscribers]) {
      try {
        fn(calls);
      } catch {
        // One broken subscriber (a closed stream) must not stop the others.
      }
    }
  };

  return {
    list: () => source.liveCalls(),
    subscribe(fn) {
      subscribers.add(fn);
      if (timer === undefined) {
        last = JSON.stringify(source.liveCalls());
        timer = setInterval(poll, intervalMs);
      }
      return () => {
        subscribers.delete(fn);
        if (subscribers.size === 0 && timer !== undefined) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
  };
}
