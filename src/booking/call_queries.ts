/**
 * What both backends share for the operator console's read queries: paging limits, the
 * phone filter, and readers for the slim rows (call summaries, quality rows) the SQL returns.
 * The SQL itself differs (SQLite `json_each` vs PostgreSQL `jsonb`) and lives in each backend.
 *
 * @module
 */
import type { CallListQuery, CallQualityRow, CallSummary } from "./types.ts";
import { MAX_CALL_PAGE } from "./types.ts";
import type { RowDialect, SqlRow } from "./store_core.ts";

/** The system note a call writes when the model is gone and the apology plays. */
export const APOLOGY_NOTE_PREFIX = "model unavailable";

/** Page size and offset of a call list query, clamped to what the store serves. */
export function callPage(query: CallListQuery): { limit: number; offset: number } {
  const limit = Math.trunc(query.limit ?? 25);
  const offset = Math.trunc(query.offset ?? 0);
  return {
    limit: Number.isFinite(limit) ? Math.min(MAX_CALL_PAGE, Math.max(1, limit)) : 25,
    offset: Number.isFinite(offset) ? Math.min(1_000_000, Math.max(0, offset)) : 0,
  };
}

/**
 * The `LIKE` pattern of the phone filter: caller numbers whose digits end with the given
 * digits; undefined (no filter) when fewer than 3 digits were given.
 */
export function phoneSuffixPattern(phoneDigits: string | undefined): string | undefined {
  const digits = (phoneDigits ?? "").replace(/\D/g, "").slice(-15);
  return digits.length >= 3 ? `%${digits}` : undefined;
}

/** Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const iso = (ms: number) => Temporal.Instant.fromEpochMilliseconds(ms).toString();
const truthy = (v: unknown) => v === true || v === 1 || v === 1n || v === "1" || v === "t";

/**
 * Reads a summary row: `call_sid, from_number, to_number, started_*, ended_*, outcome,
 * n_turns, n_tools, n_barge_ins, booked, flagged`.
 */
export function readCallSummary(r: SqlRow, d: RowDialect): CallSummary {
  const ended = r["ended" + d.timeSuffix];
  return {
    callSid: String(r.call_sid),
    from: String(r.from_number),
    to: String(r.to_number),
    startedAt: iso(d.ms(r["started" + d.timeSuffix])),
    ...(ended === null || ended === undefined ? {} : { endedAt: iso(d.ms(ended)) }),
    outcome: String(r.outcome),
    turns: Number(r.n_turns ?? 0),
    toolCalls: Number(r.n_tools ?? 0),
    bargeIns: Number(r.n_barge_ins ?? 0),
    booked: truthy(r.booked),
    flagged: truthy(r.flagged),
  };
}

/**
 * Reads a quality row: `started_*, outcome, booked, latency (JSON), n_barge_ins,
 * reconnects, apology, tool_errors`.
 */
export function readQualityRow(r: SqlRow, d: RowDialect): CallQualityRow {
  const latency = d.json(r.latency) as { turnMs?: unknown } | null;
  const turnMs = Array.isArray(latency?.turnMs)
    ? latency.turnMs.filter((n): n is number => typeof n === "number" && Number.isFinite(n))
    : [];
  const reconnects = Number(r.reconnects ?? 0);
  return {
    startedAt: iso(d.ms(r["started" + d.timeSuffix])),
    outcome: String(r.outcome),
    booked: truthy(r.booked),
    turnMs,
    bargeIns: Number(r.n_barge_ins ?? 0),
    reconnects: Number.isFinite(reconnects) ? reconnects : 0,
    apology: truthy(r.apology),
    toolErrors: Number(r.tool_errors ?? 0),
  };
}
