/**
 * A fast path for the model's most frequent event, `response.output_audio.delta` (one per
 * 20-100 ms of audio per call): a scanner that reads it straight out of the text, without
 * `JSON.parse`. It accepts only the compact shape the Realtime API sends (members in any
 * order: `type`, `event_id`, `response_id`, `item_id`, `delta` as strings without escapes,
 * `output_index` and `content_index` as small non-negative integers; no whitespace) and
 * says "not this" for anything else, which then takes the full parse and validation. For
 * what it accepts it builds the same object `JSON.parse` would.
 *
 * @module
 */

/** The prefix every delta the scanner can take starts with (`type` first, as the API sends it). */
const TYPE_PREFIX = '{"type":"response.output_audio.delta"';

const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const CLOSE = 125;
const ZERO = 48;
const NINE = 57;

/** A scanned delta: the members the message had, as JSON.parse would give them. */
export interface ScannedDelta {
  type: "response.output_audio.delta";
  event_id?: string;
  response_id: string;
  item_id: string;
  output_index?: number;
  content_index?: number;
  delta: string;
}

/**
 * Reads a `response.output_audio.delta` event that starts with its `type`; undefined for
 * anything else or any other form (an escape, whitespace, another member, a repeated
 * member, a missing `delta`/`item_id`/`response_id`, a number that is not a small
 * non-negative integer, trailing text): parse those in full.
 */
export function scanAudioDelta(text: string): ScannedDelta | undefined {
  if (!text.startsWith(TYPE_PREFIX) || text.indexOf("\\") >= 0) return undefined;
  const e: Record<string, unknown> = { type: "response.output_audio.delta" };
  let i = TYPE_PREFIX.length;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === CLOSE) break;
    if (c !== COMMA || text.charCodeAt(i + 1) !== QUOTE) return undefined;
    const keyStart = i + 2;
    const keyEnd = text.indexOf('"', keyStart);
    if (keyEnd < 0 || text.charCodeAt(keyEnd + 1) !== COLON) return undefined;
    const key = text.slice(keyStart, keyEnd);
    if (key in e) return undefined; // repeated (JSON.parse keeps the last): not our shape
    i = keyEnd + 2;
    if (key === "output_index" || key === "content_index") {
      // A small non-negative integer: 0, or 1-15 digits without a leading zero.
      let n = 0;
      const start = i;
      for (let d = text.charCodeAt(i); d >= ZERO && d <= NINE; d = text.charCodeAt(++i)) {
        n = n * 10 + (d - ZERO);
      }
      const digits = i - start;
      if (digits === 0 || digits > 15 || (digits > 1 && text.charCodeAt(start) === ZERO)) {
        return undefined;
      }
      e[key] = n;
    } else if (
      key === "delta" || key === "item_id" || key === "response_id" || key === "event_id"
    ) {
      if (text.charCodeAt(i) !== QUOTE) return undefined;
      const end = text.indexOf('"', i + 1);
      if (end < 0) return undefined;
      e[key] = text.slice(i + 1, end);
      i = end + 1;
    } else {
      return undefined; // a member this scanner does not know
    }
  }
  if (i !== text.length - 1) return undefined;
  if (
    typeof e.delta !== "string" || typeof e.item_id !== "string" ||
    typeof e.response_id !== "string"
  ) return undefined;
  return e as unknown as ScannedDelta;
}
