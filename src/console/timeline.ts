/**
 * The call page's timeline: one list, in time order, of what happened on a call — caller and
 * agent turns, tool calls with arguments and results, barge-ins with what the caller had
 * heard, key presses, transfers, SMS and the end — built from the stored call record.
 *
 * @module
 */
import type { CallRecord, TranscriptEntry } from "../call/record.ts";

/** One event of the timeline. */
export type TimelineEvent =
  | { kind: "turn"; at: string; role: "caller" | "agent"; text: string; interrupted?: boolean }
  | {
    kind: "tool";
    at: string;
    name: string;
    arguments: unknown;
    result?: unknown;
    error?: string;
    durationMs: number;
  }
  | {
    kind: "barge_in";
    at: string;
    /** How much of the agent's reply the caller had heard, ms. */
    heardMs?: number;
    /** The words of the interrupted reply the caller heard. */
    heardText?: string;
  }
  | { kind: "dtmf"; at: string; digits: string }
  | { kind: "transfer"; at: string; detail: string }
  | { kind: "sms"; at: string; to: string; bookingId?: string; sid?: string; error?: string }
  | { kind: "note"; at: string; text: string }
  | { kind: "end"; at: string; outcome: string; endReason?: string };

/** An SMS the call sent, as kept in `extra.sms`. */
export interface SmsEntry {
  at: string;
  to: string;
  bookingId?: string;
  sid?: string;
  error?: string;
}

const DTMF_NOTE = /^caller pressed (.+)$/;

/** An ISO instant as ms (0 when missing or malformed, so such events sort first). */
const ms = (iso: string) => Date.parse(iso) || 0;

/** The SMS entries of a record (malformed entries are skipped). */
export function smsOf(record: CallRecord): SmsEntry[] {
  const raw = record.extra?.sms;
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((s) => {
    if (typeof s !== "object" || s === null) return [];
    const e = s as Record<string, unknown>;
    if (typeof e.at !== "string" || typeof e.to !== "string") return [];
    const text = (k: string) => typeof e[k] === "string" ? { [k]: e[k] as string } : {};
    return [{ at: e.at, to: e.to, ...text("bookingId"), ...text("sid"), ...text("error") }];
  });
}

/** Builds the timeline of a call, oldest first. */
export function callTimeline(record: CallRecord): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  const agentLines: TranscriptEntry[] = [];
  for (const t of record.transcript) {
    if (t.role === "system") {
      const dtmf = DTMF_NOTE.exec(t.text);
      events.push(
        dtmf
          ? { kind: "dtmf", at: t.at, digits: dtmf[1] }
          : { kind: "note", at: t.at, text: t.text },
      );
      continue;
    }
    if (t.role === "agent") agentLines.push(t);
    events.push({
      kind: "turn",
      at: t.at,
      role: t.role,
      text: t.text,
      ...(t.interrupted ? { interrupted: true } : {}),
    });
  }
  for (const call of record.toolCalls) {
    events.push({
      kind: "tool",
      at: call.startedAt,
      name: call.name,
      arguments: call.arguments,
      ...(call.result !== undefined ? { result: call.result } : {}),
      ...(call.error !== undefined ? { error: call.error } : {}),
      durationMs: call.durationMs,
    });
    if (call.name === "transfer_call") {
      const reason = (call.arguments as { reason?: unknown } | null)?.reason;
      events.push({
        kind: "transfer",
        at: call.startedAt,
        detail: `agent asked to transfer${typeof reason === "string" ? `: ${reason}` : ""}`,
      });
    }
  }
  for (const b of record.bargeIns) {
    // The reply it cut off: the last interrupted agent line that started before it.
    const cut = agentLines.filter((l) => l.interrupted && ms(l.at) <= ms(b.at)).at(-1);
    events.push({
      kind: "barge_in",
      at: b.at,
      ...(b.heardMs !== undefined ? { heardMs: b.heardMs } : {}),
      ...(cut ? { heardText: cut.text } : {}),
    });
  }
  for (const sms of smsOf(record)) events.push({ kind: "sms", ...sms });
  const endReason = typeof record.extra?.endReason === "string"
    ? record.extra.endReason
    : undefined;
  if (record.endedAt) {
    if (record.outcome === "transferred") {
      events.push({ kind: "transfer", at: record.endedAt, detail: "call transferred" });
    }
    events.push({
      kind: "end",
      at: record.endedAt,
      outcome: record.outcome,
      ...(endReason ? { endReason } : {}),
    });
  }
  // Stable: events at the same instant keep the order above (turn, then its tool calls).
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => ms(a.e.at) - ms(b.e.at) || a.i - b.i)
    .map(({ e }) => e);
}
