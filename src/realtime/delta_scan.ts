/**
 * A fast path for the model's most frequent event, `response.output_audio.delta` (one per
 * 20-100 ms of audio per call): a scanner that reads it straight out of the text, without
 * `JSON.parse`. It accepts only the compact shape the Realtime API sends (members in any
 * order: `type`, `event_id`, `response_id`, `item_id`, `delta` as strings without escapes
 * or control characters, `delta` strict base64, `output_index` and `content_index` as
 * small non-negative integers; no whitespace) and
 * says "not this" for anything else, which then takes the full parse and validation. For
 * what it accepts it builds an object equal to the one `JSON.parse` would (members in another
 * order).
 *
 * @module
 */
import { strictBase64Bytes } from "../codec/base64.ts";
import { hasControlChar } from "../json_chars.ts";

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
 * anything else or any other form (an escape or a control character, whitespace, another
 * member, a repeated member, a missing `delta`/`item_id`/`response_id`, a `delta` that is
 * not strict base64, a number that is not a small non-negative integer, trailing text):
 * parse those in full.
 */
export function scanAudioDelta(text: string): ScannedDelta | undefined {
  if (!text.startsWith(TYPE_PREFIX) || text.indexOf("\\") >= 0) return undefined;
  let eventId: string | undefined;
  let responseId: string | undefined;
  let itemId: string | undefined;
  let delta: string | undefined;
  let outputIndex = -1;
  let contentIndex = -1;
  let deltaStart = 0;
  let deltaEnd = 0;
  let i = TYPE_PREFIX.length;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === CLOSE) break;
    if (c !== COMMA || text.charCodeAt(i + 1) !== QUOTE) return undefined;
    const keyStart = i + 2;
    const keyEnd = text.indexOf('"', keyStart);
    if (keyEnd < 0 || text.charCodeAt(keyEnd + 1) !== COLON) return undefined;
    const keyLength = keyEnd - keyStart;
    i = keyEnd + 2;
    if (keyLength === 12 || keyLength === 13) {
      const output = keyLength === 12 && text.startsWith("output_index", keyStart);
      if (!output && !(keyLength === 13 && text.startsWith("content_index", keyStart))) {
        return undefined;
      }
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
      if (output) {
        if (outputIndex >= 0) return undefined; // repeated: JSON.parse keeps the last one
        outputIndex = n;
      } else {
        if (contentIndex >= 0) return undefined;
        contentIndex = n;
      }
      continue;
    }
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const end = text.indexOf('"', i + 1);
    if (end < 0) return undefined;
    const valueStart = i + 1;
    i = end + 1;
    if (keyLength === 5 && text.startsWith("delta", keyStart)) {
      if (delta !== undefined || strictBase64Bytes(text, valueStart, end) < 0) return undefined;
      deltaStart = valueStart;
      deltaEnd = end;
      delta = text.slice(valueStart, end);
    } else if (keyLength === 7 && text.startsWith("item_id", keyStart)) {
      if (itemId !== undefined) return undefined;
      itemId = text.slice(valueStart, end);
    } else if (keyLength === 11 && text.startsWith("response_id", keyStart)) {
      if (responseId !== undefined) return undefined;
      responseId = text.slice(valueStart, end);
    } else if (keyLength === 8 && text.startsWith("event_id", keyStart)) {
      if (eventId !== undefined) return undefined;
      eventId = text.slice(valueStart, end);
    } else {
      return undefined; // a member this scanner does not know
    }
  }
  if (
    i !== text.length - 1 || delta === undefined || itemId === undefined ||
    responseId === undefined
  ) return undefined;
  // The delta is base64, so only the rest can hold a control character.
  if (hasControlChar(text, 0, deltaStart) || hasControlChar(text, deltaEnd, text.length)) {
    return undefined;
  }
  const e: ScannedDelta = {
    type: "response.output_audio.delta",
    response_id: responseId,
    item_id: itemId,
    delta,
  };
  if (eventId !== undefined) e.event_id = eventId;
  if (outputIndex >= 0) e.output_index = outputIndex;
  if (contentIndex >= 0) e.content_index = contentIndex;
  return e;
}
