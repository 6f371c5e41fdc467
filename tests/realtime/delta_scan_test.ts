import assert from "node:assert/strict";
import { scanAudioDelta } from "../../src/realtime/delta_scan.ts";
import { parseServerEvent } from "../../src/realtime/protocol.ts";

const AUDIO = new Uint8Array(800).map((_, i) => i * 5).toBase64();
const DELTA = {
  type: "response.output_audio.delta",
  event_id: "event_CdX1",
  response_id: "resp_CdX0",
  item_id: "item_CdX2",
  output_index: 0,
  content_index: 0,
  delta: AUDIO,
};

Deno.test("scanAudioDelta: the API's delta, its members in any order after type, as JSON.parse reads it", () => {
  const { type, ...rest } = DELTA;
  const keys = Object.keys(rest);
  const variants: Record<string, unknown>[] = [
    DELTA,
    {
      type,
      ...Object.fromEntries(keys.toReversed().map((k) => [k, DELTA[k as keyof typeof DELTA]])),
    },
    { type, delta: AUDIO, item_id: "i", response_id: "r" },
    { type, response_id: "r", item_id: "i", delta: "", output_index: 12, content_index: 1 },
    { ...DELTA, output_index: 123456789012345 },
  ];
  for (const v of variants) {
    const text = JSON.stringify(v);
    const scanned = scanAudioDelta(text);
    assert.ok(scanned, text);
    assert.deepEqual(scanned, JSON.parse(text), text);
    const parsed = parseServerEvent(text);
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.event, JSON.parse(text));
  }
});

Deno.test("scanAudioDelta: any other form is left to the full parse, which still judges it", () => {
  const ok = JSON.stringify(DELTA);
  const others: [string, boolean][] = [
    // [text, whether parseServerEvent accepts it]
    [JSON.stringify(Object.fromEntries(Object.entries(DELTA).toReversed())), true], // type last
    [JSON.stringify(DELTA, null, 1), true], // whitespace
    [ok.replace(AUDIO, AUDIO.slice(0, 8) + "\\/" + AUDIO.slice(10)), true], // an escape
    [ok.replace('"item_CdX2"', '"item\\u0041"'), true],
    [JSON.stringify({ ...DELTA, obfuscation: "xyz" }), true], // a member it does not know
    [JSON.stringify({ ...DELTA, output_index: 1.5 }), true], // not an integer
    [JSON.stringify({ ...DELTA, content_index: -1 }), true],
    [ok.replace('"content_index":0', '"content_index":00'), false], // not JSON
    [ok.replace('"content_index":0', '"content_index":1e2'), true],
    [JSON.stringify({ ...DELTA, output_index: 1234567890123456 }), true], // 16 digits
    [JSON.stringify({ ...DELTA, output_index: "0" }), true],
    // Control characters: JSON.parse refuses them raw.
    [ok.replace("item_CdX2", "item\tCdX2"), false],
    [ok.replace("event_CdX1", "event\u0001"), false],
    [ok.replace(AUDIO, AUDIO.slice(0, 100) + "\n" + AUDIO.slice(100)), false],
    // A delta that is not strict base64: the full parse takes it (the audio path judges it).
    [JSON.stringify({ ...DELTA, delta: "@@ not base64 @@" }), true],
    [JSON.stringify({ ...DELTA, delta: AUDIO.replace(/=+$/, "") }), true],
    [JSON.stringify({ ...DELTA, delta: 5 }), false], // wrong types: malformed either way
    [JSON.stringify({ ...DELTA, item_id: null }), false],
    [JSON.stringify({ type: DELTA.type, response_id: "r", delta: AUDIO }), false], // no item_id
    [JSON.stringify({ type: DELTA.type, item_id: "i", delta: AUDIO }), false], // no response_id
    [JSON.stringify({ type: DELTA.type, item_id: "i", response_id: "r" }), false], // no delta
    [ok.replace('"delta":', '"delta":"AAAA","delta":'), true], // repeated: the last one wins
    [
      ok.replace('"type":', '"type":"x","type":').replace(
        '{"type":"x",',
        '{"type":"response.output_audio.delta",',
      ),
      true,
    ],
    [ok + " ", true],
    [ok + "x", false],
    [ok.slice(0, -1), false],
    [ok.slice(0, -2), false],
    ['{"type":"response.output_audio.delta"', false],
    ['{"type":"response.output_audio.delta"}', false],
    ['{"type":"response.output_audio.delta",', false],
    ['{"type":"response.output_audio.delta","delta"', false],
    ['{"type":"response.output_audio.delta","delta":', false],
    ['{"type":"response.output_audio.delta","output_index":', false],
    ['{"type":"response.output_audio.deltas","item_id":"i","response_id":"r","delta":"A"}', false],
    ['{"type":"response.output_audio.done","item_id":"i","response_id":"r"}', true],
  ];
  for (const [text, accepted] of others) {
    assert.equal(scanAudioDelta(text), undefined, text);
    assert.equal(parseServerEvent(text).ok, accepted, text);
  }
});

Deno.test("scanAudioDelta: random edits scan as JSON.parse reads them, or not at all", () => {
  const base = JSON.stringify({ ...DELTA, delta: AUDIO.slice(0, 16) });
  const chars = '{}[]":,\\ 0159-.ae\t\n\u0001=_';
  let seed = 5;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let scanned = 0;
  for (let k = 0; k < 50_000; k++) {
    let text = base;
    const edits = 1 + Math.floor(rand() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (text.length + 1));
      const op = rand();
      const c = chars[Math.floor(rand() * chars.length)];
      if (op < 0.4) text = text.slice(0, at) + c + text.slice(at);
      else if (op < 0.7) text = text.slice(0, at) + text.slice(at + 1);
      else text = text.slice(0, at) + c + text.slice(at + 1);
    }
    const got = scanAudioDelta(text);
    if (got === undefined) continue;
    scanned++;
    assert.deepEqual(got, JSON.parse(text), text);
  }
  assert.ok(scanned > 1000, `only ${scanned} edits scanned`);
});
