/**
 * A fast path for the one message Twilio sends 50 times a second per call: a scanner that
 * reads a `media` message's fields straight out of the text, without `JSON.parse` building
 * objects and copying strings. It accepts only the compact shape Twilio sends (members in
 * any order, string values without escapes or control characters, `media` one object
 * deep, no whitespace, the payload strict base64) and says "not this" for anything else,
 * which then takes the full parse: the scanner never decides that a message is invalid, so
 * it cannot accept less or more than the parse would. The payload's characters are checked
 * once, here, and its decoded length comes with it.
 *
 * @module
 */
import { strictBase64Bytes } from "../codec/base64.ts";
import { hasControlChar } from "../json_chars.ts";

/** The fields of a `media` message the stream checks (each absent when the message lacks it). */
export interface ScannedMedia {
  streamSid: string | undefined;
  track: string | undefined;
  timestamp: string | undefined;
  payload: string | undefined;
  /** The payload's decoded length (it is strict base64, see `strictBase64Bytes`). */
  payloadBytes: number;
}

const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const OPEN = 123;
const CLOSE = 125;

/** Whether the text between `start` and `end` is `name`. */
function is(text: string, start: number, end: number, name: string): boolean {
  return end - start === name.length && text.startsWith(name, start);
}

/**
 * Reads a Twilio `media` message; undefined when `text` is anything else or not in the
 * compact form (another event, an escape or a control character anywhere, whitespace, a
 * number, an array, a repeated field, no `media` object, no payload or one that is not
 * strict base64, trailing text, ...): parse those in full.
 *
 * ```ts
 * scanMediaMessage('{"event":"media","streamSid":"MZ1","media":{"track":"inbound","timestamp":"20","payload":"/w=="}}');
 * // { streamSid: "MZ1", track: "inbound", timestamp: "20", payload: "/w==", payloadBytes: 1 }
 * ```
 */
export function scanMediaMessage(text: string): ScannedMedia | undefined {
  // No escapes anywhere: every string ends at the next quote and is its own text.
  if (text.charCodeAt(0) !== OPEN || text.indexOf("\\") >= 0) return undefined;
  let isMedia = false;
  let sawMedia = false;
  let streamSid: string | undefined;
  let track: string | undefined;
  let timestamp: string | undefined;
  let payload: string | undefined;
  let payloadBytes = -1;
  let payloadStart = 0;
  let payloadEnd = 0;
  let i = 1;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = text.indexOf('"', i + 1);
    if (keyEnd < 0 || text.charCodeAt(keyEnd + 1) !== COLON) return undefined;
    const keyStart = i + 1;
    i = keyEnd + 2;
    const c = text.charCodeAt(i);
    if (c === OPEN) {
      if (!is(text, keyStart, keyEnd, "media") || sawMedia) return undefined;
      sawMedia = true;
      i++;
      // The media object: string members only.
      for (;;) {
        if (text.charCodeAt(i) !== QUOTE) return undefined;
        const kEnd = text.indexOf('"', i + 1);
        if (kEnd < 0 || text.charCodeAt(kEnd + 1) !== COLON) return undefined;
        const kStart = i + 1;
        if (text.charCodeAt(kEnd + 2) !== QUOTE) return undefined;
        const vEnd = text.indexOf('"', kEnd + 3);
        if (vEnd < 0) return undefined;
        const kLen = kEnd - kStart;
        if (kLen === 7 && text.startsWith("payload", kStart)) {
          if (payload !== undefined) return undefined;
          payloadStart = kEnd + 3;
          payloadEnd = vEnd;
          payloadBytes = strictBase64Bytes(text, payloadStart, payloadEnd);
          if (payloadBytes < 0) return undefined;
          payload = text.slice(payloadStart, payloadEnd);
        } else if (kLen === 9 && text.startsWith("timestamp", kStart)) {
          if (timestamp !== undefined) return undefined;
          timestamp = text.slice(kEnd + 3, vEnd);
        } else if (kLen === 5 && text.startsWith("track", kStart)) {
          if (track !== undefined) return undefined;
          track = text.slice(kEnd + 3, vEnd);
        } // other members (chunk) are not used
        i = vEnd + 1;
        const next = text.charCodeAt(i);
        if (next === COMMA) i++;
        else if (next === CLOSE) break;
        else return undefined;
      }
      i++;
    } else if (c === QUOTE) {
      const vEnd = text.indexOf('"', i + 1);
      if (vEnd < 0) return undefined;
      if (is(text, keyStart, keyEnd, "event")) {
        if (isMedia || !is(text, i + 1, vEnd, "media")) return undefined;
        isMedia = true;
      } else if (is(text, keyStart, keyEnd, "streamSid")) {
        if (streamSid !== undefined) return undefined;
        streamSid = text.slice(i + 1, vEnd);
      } else if (is(text, keyStart, keyEnd, "media")) {
        return undefined; // a string where the object belongs: the full parse says so
      } // other members (sequenceNumber) are not used
      i = vEnd + 1;
    } else {
      return undefined;
    }
    const next = text.charCodeAt(i);
    if (next === COMMA) i++;
    else if (next === CLOSE) break;
    else return undefined;
  }
  if (i !== text.length - 1 || !isMedia || !sawMedia || payload === undefined) return undefined;
  // The payload is base64, so only the rest can hold a control character.
  if (hasControlChar(text, 0, payloadStart) || hasControlChar(text, payloadEnd, text.length)) {
    return undefined;
  }
  return { streamSid, track, timestamp, payload, payloadBytes };
}
