/**
 * Quality at a glance: per-call rows from the store grouped into hour (or day) buckets of
 * the business's time zone, ready for the charts.
 *
 * @module
 */
import type { CallQualityRow } from "../booking/types.ts";

/** Series for the quality charts; every array has one entry per bucket. */
export interface QualitySeries {
  /** `hour` for ranges up to a week, else `day`. */
  bucket: "hour" | "day";
  /** The business time zone the buckets follow. */
  timeZone: string;
  /** Bucket starts, unix seconds. */
  times: number[];
  /** Calls started. */
  calls: number[];
  /** Share of calls that made a booking, % (null without calls). */
  conversion: (number | null)[];
  /** Turn latency median / 95th percentile, ms (null without turns). */
  latencyP50: (number | null)[];
  latencyP95: (number | null)[];
  /** Barge-ins per call (null without calls). */
  bargeInsPerCall: (number | null)[];
  /** Model reconnections. */
  reconnects: number[];
  /** Calls where the prepared apology played. */
  apologies: number[];
  /** Tool calls that failed. */
  toolErrors: number[];
  /** The same figures over the whole range. */
  totals: {
    calls: number;
    booked: number;
    conversion: number | null;
    latencyP50: number | null;
    latencyP95: number | null;
    turns: number;
    bargeInsPerCall: number | null;
    reconnects: number;
    apologies: number;
    toolErrors: number;
  };
}

/** Longest range the charts cover, days. */
export const MAX_QUALITY_DAYS = 92;

/** Nearest-rank percentile (the call record's own method), undefined for no values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * Groups `rows` (calls started in `[from, to)`) into buckets.
 *
 * @example
 * ```ts
 * import type { BookingStore } from "../booking/types.ts";
 * declare const store: BookingStore;
 * const to = Temporal.Now.instant();
 * const from = to.subtract({ hours: 24 * 7 });
 * const series = qualitySeries(await store.callQuality(from, to), from, to, "America/New_York");
 * ```
 */
export function qualitySeries(
  rows: readonly CallQualityRow[],
  from: Temporal.Instant,
  to: Temporal.Instant,
  timeZone: string,
): QualitySeries {
  const days = from.until(to).total("hours") / 24;
  const bucket: "hour" | "day" = days <= 7 ? "hour" : "day";
  const unit = bucket === "hour" ? { hours: 1 } : { days: 1 };
  // Bucket starts, following the business clock (DST, half-hour zones).
  const starts: Temporal.Instant[] = [];
  let at = from.toZonedDateTimeISO(timeZone).round({ smallestUnit: bucket, roundingMode: "floor" });
  while (Temporal.Instant.compare(at.toInstant(), to) < 0) {
    starts.push(at.toInstant());
    at = at.add(unit);
  }
  const n = starts.length;
  const calls = new Array<number>(n).fill(0);
  const booked = new Array<number>(n).fill(0);
  const bargeIns = new Array<number>(n).fill(0);
  const reconnects = new Array<number>(n).fill(0);
  const apologies = new Array<number>(n).fill(0);
  const toolErrors = new Array<number>(n).fill(0);
  const turns: number[][] = Array.from({ length: n }, () => []);
  let i = 0;
  const sortedRows = [...rows].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  for (const row of sortedRows) {
    const t = Temporal.Instant.from(row.startedAt);
    if (Temporal.Instant.compare(t, from) < 0 || Temporal.Instant.compare(t, to) >= 0) continue;
    while (i + 1 < n && Temporal.Instant.compare(starts[i + 1], t) <= 0) i++;
    calls[i]++;
    if (row.booked) booked[i]++;
    bargeIns[i] += row.bargeIns;
    reconnects[i] += row.reconnects;
    if (row.apology) apologies[i]++;
    toolErrors[i] += row.toolErrors;
    turns[i].push(...row.turnMs);
  }
  const sorted = turns.map((t) => [...t].sort((a, b) => a - b));
  const allTurns = sorted.flat().sort((a, b) => a - b);
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  const totalCalls = sum(calls);
  const totalBooked = sum(booked);
  return {
    bucket,
    timeZone,
    times: starts.map((s) => Math.round(s.epochMilliseconds / 1000)),
    calls,
    conversion: calls.map((c, k) => c ? round1(100 * booked[k] / c) : null),
    latencyP50: sorted.map((t) => percentile(t, 0.5)),
    latencyP95: sorted.map((t) => percentile(t, 0.95)),
    bargeInsPerCall: calls.map((c, k) => c ? round1(bargeIns[k] / c) : null),
    reconnects,
    apologies,
    toolErrors,
    totals: {
      calls: totalCalls,
      booked: totalBooked,
      conversion: totalCalls ? round1(100 * totalBooked / totalCalls) : null,
      latencyP50: percentile(allTurns, 0.5),
      latencyP95: percentile(allTurns, 0.95),
      turns: allTurns.length,
      bargeInsPerCall: totalCalls ? round1(sum(bargeIns) / totalCalls) : null,
      reconnects: sum(reconnects),
      apologies: sum(apologies),
      toolErrors: sum(toolErrors),
    },
  };
}
