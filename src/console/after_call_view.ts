/**
 * What the console's call page shows of the after-call work: the summary (or why there is
 * none), the agent's claims with their verdicts (mismatches first), whether the call is
 * flagged, and the recording (where it is, how long, or that retention deleted it). Read
 * defensively from the stored record's `extra`: older records have none of it.
 *
 * @module
 */
import type { CallRecord } from "../call/record.ts";

/** A claim as the page lists it. */
export interface ClaimView {
  kind: string;
  status: "verified" | "mismatch" | "unverifiable";
  source: "summary" | "live";
  /** The claim as extracted (service, date, time, amount, day, quote…). */
  claim: Record<string, unknown>;
  /** What the database or profile says, or why it could not be checked. */
  truth?: string;
  at?: string;
}

/** The after-call part of the call page. */
export interface AfterCallView {
  flagged: boolean;
  summary: {
    status: string;
    note?: string;
    text?: string;
    intent?: string;
    outcome?: string;
    followUp?: { needed: boolean; reason?: string };
    error?: string;
  } | null;
  claims: ClaimView[];
  recording: {
    path: string;
    durationMs?: number;
    deletedAt?: string;
    deletedBecause?: string;
    error?: string;
  } | null;
}

const STATUS = new Set(["verified", "mismatch", "unverifiable"]);
const ORDER = { mismatch: 0, unverifiable: 1, verified: 2 } as const;

const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v)
    ? v as Record<string, unknown>
    : undefined;
const str = (v: unknown): string | undefined => typeof v === "string" ? v : undefined;

/** The after-call view of a stored record. */
export function afterCallView(record: CallRecord): AfterCallView {
  const extra = record.extra ?? {};
  const s = obj(extra.summary);
  const follow = obj(s?.followUp);
  const summary = s && str(s.status)
    ? {
      status: str(s.status)!,
      note: str(s.note),
      text: str(s.text),
      intent: str(s.intent),
      outcome: str(s.outcome),
      followUp: follow && typeof follow.needed === "boolean"
        ? { needed: follow.needed, reason: str(follow.reason) }
        : undefined,
      error: str(s.error),
    }
    : null;
  const checked = obj(extra.promises)?.checked;
  const claims = (Array.isArray(checked) ? checked : []).flatMap((c): ClaimView[] => {
    const o = obj(c);
    const status = str(o?.status);
    if (!o || !status || !STATUS.has(status)) return [];
    return [{
      kind: str(o.kind) ?? "other",
      status: status as ClaimView["status"],
      source: o.source === "live" ? "live" : "summary",
      claim: obj(o.claim) ?? {},
      truth: str(o.truth),
      at: str(o.at),
    }];
  }).sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  const r = obj(extra.recording);
  const recording = r && str(r.path)
    ? {
      path: str(r.path)!,
      durationMs: typeof r.durationMs === "number" ? r.durationMs : undefined,
      deletedAt: str(r.deletedAt),
      deletedBecause: str(r.deletedBecause),
      error: str(r.error),
    }
    : null;
  return {
    flagged: extra.flagged === true || claims.some((c) => c.status === "mismatch"),
    summary,
    claims,
    recording,
  };
}
