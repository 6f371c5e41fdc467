import assert from "node:assert/strict";
import { scanMediaMessage } from "../../src/twilio/media_scan.ts";

const SID = "MZ" + "0123456789abcdef".repeat(2);
const PAYLOAD = new Uint8Array(160).map((_, i) => i * 7).toBase64();

/** What the stream reads from a message parsed in full (the scanner must agree). */
function viaParse(text: string) {
  const m = JSON.parse(text);
  return {
    streamSid: m.streamSid,
    track: m.media?.track,
    timestamp: m.media?.timestamp,
    payload: m.media?.payload,
    payloadBytes: Uint8Array.fromBase64(m.media?.payload).length,
  };
}

Deno.test("scanMediaMessage: Twilio's media message, in any member order", () => {
  const media = { track: "inbound", chunk: "12", timestamp: "240", payload: PAYLOAD };
  const orders = [
    // As Twilio sends it.
    { event: "media", sequenceNumber: "13", media, streamSid: SID },
    { event: "media", sequenceNumber: "13", streamSid: SID, media },
    { streamSid: SID, media, event: "media", sequenceNumber: "13" },
    { media, streamSid: SID, event: "media" },
    {
      event: "media",
      streamSid: SID,
      media: { payload: PAYLOAD, timestamp: "240", chunk: "12", track: "inbound" },
    },
    { event: "media", streamSid: SID, media: { timestamp: "240", payload: PAYLOAD } },
    { event: "media", media: { track: "inbound", timestamp: "240", payload: PAYLOAD } },
    {
      event: "media",
      streamSid: SID,
      extra: "x",
      media: { track: "outbound", x: "", payload: "" },
    },
    {
      event: "media",
      streamSid: SID,
      media: { track: "inbound", timestamp: "0", payload: "QQ==" },
    },
  ];
  for (const message of orders) {
    const text = JSON.stringify(message);
    const scanned = scanMediaMessage(text);
    assert.ok(scanned, text);
    assert.deepEqual(scanned, viaParse(text), text);
  }
});

Deno.test("scanMediaMessage: anything else is left to the full parse", () => {
  const ok = JSON.stringify({
    event: "media",
    sequenceNumber: "1",
    media: { track: "inbound", chunk: "1", timestamp: "0", payload: PAYLOAD },
    streamSid: SID,
  });
  assert.ok(scanMediaMessage(ok));
  const media = (m: unknown) => JSON.stringify({ event: "media", streamSid: SID, media: m });
  const others = [
    // Other events, and events that only look like media.
    JSON.stringify({ event: "mark", streamSid: SID, mark: { name: "a1" } }),
    JSON.stringify({ event: "start", streamSid: SID, start: {} }),
    JSON.stringify({ event: "Media", streamSid: SID, media: {} }),
    JSON.stringify({ event: "mediax", streamSid: SID, media: {} }),
    JSON.stringify({ streamSid: SID, media: { payload: PAYLOAD } }), // no event
    JSON.stringify({ event: "media", streamSid: SID }), // no media object
    JSON.stringify({ event: "media", streamSid: SID, media: "x" }),
    JSON.stringify({ event: "media", streamSid: SID, media: null }),
    media({}),
    media([]),
    // Escapes anywhere (JSON.parse unescapes them; the scanner does not try).
    media({ track: "inbound", timestamp: "0", payload: "AA\\/A" }).replace("\\\\/", "\\/"),
    media({ track: 'in"bound', timestamp: "0", payload: PAYLOAD }),
    JSON.stringify({ event: "media", streamSid: SID + "\u0001", media: { payload: PAYLOAD } }),
    JSON.stringify({ event: "\u006dedia", streamSid: SID, media: {} }).replace(
      "media",
      "\\u006dedia",
    ),
    // Control characters (JSON.parse refuses them raw), in any member.
    media({ track: "inbound", timestamp: "0", payload: PAYLOAD }).replace("inbound", "in\tbound"),
    media({ track: "inbound", timestamp: "0", payload: PAYLOAD }).replace(
      "inbound",
      "in\u0001bound",
    ),
    ok.replace('"sequenceNumber":"1"', '"sequenceNumber":"1\n"'),
    ok.replace("sequenceNumber", "sequence\rNumber"),
    ok.replace(PAYLOAD, PAYLOAD.slice(0, 100) + "\n" + PAYLOAD.slice(100)),
    // Payloads that are not strict base64 (the full parse decides what they are).
    media({ track: "inbound", timestamp: "0", payload: "QQ" }),
    media({ track: "inbound", timestamp: "0", payload: " QQ==" }),
    media({ track: "inbound", timestamp: "0", payload: "-_-_" }),
    media({ track: "inbound", timestamp: "0", payload: "@@not base64@@" }),
    media({ track: "inbound", timestamp: "0" }), // no payload
    // Values that are not strings.
    media({ track: "inbound", timestamp: 0, payload: PAYLOAD }),
    media({ track: "inbound", timestamp: "0", payload: null }),
    media({ track: "inbound", timestamp: "0", payload: [PAYLOAD] }),
    media({ track: "inbound", timestamp: "0", payload: { x: PAYLOAD } }),
    JSON.stringify({ event: "media", sequenceNumber: 1, streamSid: SID, media: {} }),
    JSON.stringify({ event: "media", streamSid: SID, media: { payload: PAYLOAD }, more: {} }),
    // Repeated members (JSON.parse keeps the last one).
    ok.replace('"event":"media"', '"event":"media","event":"start"'),
    ok.replace('"streamSid"', '"streamSid":"MZ0","streamSid"'),
    ok.replace('"payload"', '"payload":"AAAA","payload"'),
    ok.replace('"timestamp"', '"timestamp":"9","timestamp"'),
    ok.replace('"track"', '"track":"outbound","track"'),
    ok.replace("}", '},"media":{"payload":"AAAA"}').replace(/}}$/, "}"),
    // Whitespace, truncation, trailing text, not an object.
    JSON.stringify(JSON.parse(ok), null, 1),
    " " + ok,
    ok + " ",
    ok + "x",
    ok.slice(0, -1),
    ok.slice(0, -2),
    ok.slice(0, 60),
    "[" + ok + "]",
    "",
    "{}",
    "{",
    '{"',
    '{"event"',
    '{"event":',
    '{"event":"media"',
    '{"event":"media",',
    "null",
  ];
  for (const text of others) assert.equal(scanMediaMessage(text), undefined, text);
});

Deno.test("scanMediaMessage: random edits of a media message scan as JSON.parse reads them, or not at all", () => {
  const base = JSON.stringify({
    event: "media",
    sequenceNumber: "7",
    media: { track: "inbound", chunk: "6", timestamp: "120", payload: PAYLOAD.slice(0, 24) },
    streamSid: SID,
  });
  const chars = '{}[]":,\\ ae0"m\t\n\u0001=_';
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let scanned = 0;
  for (let k = 0; k < 50_000; k++) {
    let text = base;
    const edits = 1 + Math.floor(rand() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (text.length + 1));
      const op = rand();
      const c = chars[Math.floor(rand() * chars.length)];
      if (op < 0.4) text = text.slice(0, at) + c + text.slice(at); // insert
      else if (op < 0.7) text = text.slice(0, at) + text.slice(at + 1); // delete
      else text = text.slice(0, at) + c + text.slice(at + 1); // replace
    }
    const got = scanMediaMessage(text);
    if (got === undefined) continue;
    scanned++;
    // Whatever the scanner takes is a media message JSON.parse reads the same way.
    const parsed = JSON.parse(text);
    assert.equal(parsed.event, "media", text);
    assert.equal(typeof parsed.media, "object", text);
    assert.deepEqual(got, viaParse(text), text);
  }
  assert.ok(scanned > 1000, `only ${scanned} edits scanned`);
});
