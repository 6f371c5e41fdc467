/**
 * Text and JSON that came from outside (the model, the caller, Twilio) made safe to store
 * and to hand back: no control characters, no lone UTF-16 surrogates (PostgreSQL's `jsonb`
 * and `text` reject `\u0000` and unpaired surrogates), bounded length, bounded nesting.
 *
 * Everything here is pure, bounded in work, and never throws.
 *
 * @module
 */
import type { CallRecord } from "../call/record.ts";

// C0 and C1 controls (and DEL) except tab, newline and carriage return.
const CONTROL_KEEP_LINES = /[^\P{Cc}\t\n\r]/gu;
// Every control, plus the bidirectional overrides and isolates that make a name display
// differently from what it is, zero-width characters and line/paragraph separators.
const CONTROL_ONE_LINE = /[\p{Cc}\u200B-\u200F\u2028\u2029\u202A-\u202E\u2060-\u2069\uFEFF]/gu;

/** Options of {@linkcode cleanText}. */
export interface CleanTextOptions {
  /** Longest result, in UTF-16 code units; longer text is cut and marked. */
  max: number;
  /**
   * One line (names, ids): every control and invisible formatting character becomes a
   * space, runs of whitespace collapse, ends are trimmed. Otherwise tabs and line breaks stay.
   */
  oneLine?: boolean;
}

/**
 * Makes a string safe to store: well-formed UTF-16 (lone surrogates become U+FFFD),
 * control characters removed, at most `max` code units (cut text ends with a marker saying
 * how much was cut).
 *
 * @example
 * ```ts
 * cleanText("Ann\u0000 \u202EExample", { max: 100, oneLine: true }); // "Ann Example"
 * ```
 */
export function cleanText(text: string, opts: CleanTextOptions): string {
  let s = text.toWellFormed();
  s = opts.oneLine
    ? s.replace(CONTROL_ONE_LINE, " ").replace(/\s+/g, " ").trim()
    : s.replace(CONTROL_KEEP_LINES, "");
  return truncate(s, opts.max);
}

/** Cuts `text` to about `max` code units, never inside a surrogate pair, marking the cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = ` …[${text.length - max} more characters]`;
  let cut = text.slice(0, Math.max(0, max - marker.length));
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut + marker;
}

/** Bounds of {@linkcode sanitizeJson}. */
export interface JsonLimits {
  /** Deepest nesting kept; deeper values become {@linkcode TOO_DEEP}. */
  maxDepth: number;
  /** Longest string (after cleaning). */
  maxString: number;
  /** Most entries kept per array or object. */
  maxEntries: number;
  /** Total characters of all strings; past it strings become {@linkcode CUT}. */
  maxTotalChars: number;
  /** Total values visited; past it values become {@linkcode CUT}. */
  maxNodes: number;
}

/** Placeholder for a value nested deeper than the limit. */
export const TOO_DEEP = "[nested too deep]";
/** Placeholder for what did not fit in the size budget. */
export const CUT = "[cut: record too large]";

/** Limits for a stored call record: generous for a 30-minute call, bounded for an abusive one. */
export const CALL_RECORD_LIMITS: JsonLimits = {
  maxDepth: 24,
  maxString: 8_000,
  maxEntries: 5_000,
  maxTotalChars: 4_000_000,
  maxNodes: 200_000,
};

/**
 * A JSON-safe copy of `value`: strings cleaned ({@linkcode cleanText}, keys too), numbers
 * finite, `bigint` as text, functions and symbols dropped, cycles and deep nesting cut at
 * `maxDepth`, sizes bounded. Getters that throw yield `"[unreadable]"`. Never throws, and
 * recursion is bounded by `maxDepth`, so any input is safe.
 */
export function sanitizeJson(value: unknown, limits: JsonLimits): unknown {
  const budget = { chars: limits.maxTotalChars, nodes: limits.maxNodes };
  const str = (s: string): string => {
    if (budget.chars <= 0) return CUT;
    const clean = cleanText(
      s.length > limits.maxString * 2 ? s.slice(0, limits.maxString * 2) : s,
      {
        max: limits.maxString,
      },
    );
    budget.chars -= clean.length;
    return clean;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (--budget.nodes < 0) return CUT;
    switch (typeof v) {
      case "string":
        return str(v);
      case "number":
        return Number.isFinite(v) ? v : null;
      case "boolean":
        return v;
      case "bigint":
        return v.toString();
      case "undefined":
      case "function":
      case "symbol":
        return undefined;
    }
    if (v === null) return null;
    if (depth >= limits.maxDepth) return TOO_DEEP;
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      const n = Math.min(v.length, limits.maxEntries);
      for (let i = 0; i < n; i++) {
        const item = walk(read(v, i), depth + 1);
        out.push(item === undefined ? null : item);
      }
      if (v.length > n) out.push(`[${v.length - n} more entries cut]`);
      return out;
    }
    const out: Record<string, unknown> = {};
    let keys: string[];
    try {
      keys = Object.keys(v as object);
    } catch {
      return "[unreadable]";
    }
    const n = Math.min(keys.length, limits.maxEntries);
    for (let i = 0; i < n; i++) {
      const item = walk(read(v, keys[i]), depth + 1);
      if (item !== undefined) out[str(keys[i])] = item;
    }
    if (keys.length > n) out["[cut]"] = `${keys.length - n} more entries`;
    return out;
  };
  return walk(value, 0);
}

function read(target: unknown, key: string | number): unknown {
  try {
    return (target as Record<string | number, unknown>)[key];
  } catch {
    return "[unreadable]";
  }
}

/**
 * A call record ready for any backend: every string cleaned and bounded, nesting (e.g. tool
 * arguments the model nested 10,000 deep) cut, sizes bounded ({@linkcode CALL_RECORD_LIMITS}).
 * The shape is kept, including fields this module does not know about.
 */
export function sanitizeCallRecord(record: CallRecord): CallRecord {
  const clean = sanitizeJson(record, CALL_RECORD_LIMITS) as CallRecord;
  // The columns the stores require, whatever came in.
  const list = <T>(v: unknown): T[] => (Array.isArray(v) ? v as T[] : []);
  return {
    ...clean,
    callSid: cleanText(record.callSid, { max: 100, oneLine: true }),
    startedAt: record.startedAt,
    ...(record.endedAt === undefined ? {} : { endedAt: record.endedAt }),
    from: typeof clean.from === "string" ? truncate(clean.from, 200) : "",
    to: typeof clean.to === "string" ? truncate(clean.to, 200) : "",
    outcome: typeof clean.outcome === "string" ? truncate(clean.outcome, 100) : "unknown",
    transcript: list(clean.transcript),
    toolCalls: list(clean.toolCalls),
    latency: clean.latency && typeof clean.latency === "object" ? clean.latency : {},
    bargeIns: list(clean.bargeIns),
  };
}

/**
 * The summary kept when a full record cannot be stored: who, when, how it ended, and a note
 * that the rest is in the service log. Built from an already sanitised record.
 */
export function minimalCallRecord(record: CallRecord): CallRecord {
  return {
    callSid: record.callSid,
    from: record.from,
    to: record.to,
    startedAt: record.startedAt,
    ...(record.endedAt === undefined ? {} : { endedAt: record.endedAt }),
    outcome: record.outcome,
    transcript: [],
    toolCalls: [],
    latency: {},
    bargeIns: [],
    extra: { recordIncomplete: "the full call record could not be stored; see the service log" },
  };
}
