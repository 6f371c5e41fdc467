import assert from "node:assert/strict";
import { decodeMulaw, encodeMulaw } from "../../src/codec/mulaw.ts";
import { Downsampler24kTo8k, Upsampler8kTo24k } from "../../src/codec/resample.ts";
import { MediaTranscoder } from "../../src/codec/transcoder.ts";

const speech = await Deno.readFile(
  new URL("../fixtures/caller_book_haircut_8k_mulaw.raw", import.meta.url),
);

Deno.test("transcoder: Twilio frames -> PCM24 equals decode + upsample of the whole call", () => {
  const t = new MediaTranscoder();
  const parts: Uint8Array[] = [];
  for (let at = 0; at < speech.length; at += 160) {
    const out = t.twilioPayloadToPcm24(speech.subarray(at, at + 160).toBase64());
    parts.push(Uint8Array.fromBase64(out));
  }
  const got = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) got.set(p, (o += p.length) - p.length);
  const want = new Upsampler8kTo24k().process(decodeMulaw(speech));
  assert.deepEqual(new Int16Array(got.buffer), want);
});

Deno.test("transcoder: decoded mu-law bytes in -> the same PCM24 as the base64 payload path", () => {
  const viaPayload = new MediaTranscoder();
  const viaBytes = new MediaTranscoder();
  for (let at = 0; at < speech.length; at += 160) {
    const frame = speech.subarray(at, at + 160);
    assert.equal(
      viaBytes.mulawToPcm24Bytes(frame).toBase64(),
      viaPayload.twilioPayloadToPcm24(frame.toBase64()),
    );
  }
});

Deno.test("transcoder: PCM24 chunks of any byte size (odd too) -> same Twilio codes", () => {
  const pcm24 = new Upsampler8kTo24k().process(decodeMulaw(speech)).slice();
  const bytes = new Uint8Array(pcm24.buffer);
  const want = encodeMulaw(new Downsampler24kTo8k().process(pcm24));
  const t = new MediaTranscoder();
  const got: number[] = [];
  let seed = 7;
  for (let at = 0; at < bytes.length;) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const n = Math.min(bytes.length - at, seed % 3001); // includes 0 and odd sizes
    got.push(
      ...Uint8Array.fromBase64(t.pcm24ToTwilioPayload(bytes.subarray(at, at + n).toBase64())),
    );
    at += n;
  }
  assert.deepEqual(Uint8Array.from(got), want);
  // reset("toCaller") drops the carried half sample and filter history.
  t.pcm24ToTwilioPayload("AQ=="); // one odd byte
  t.reset("toCaller");
  assert.equal(t.pcm24ToTwilioPayload("AAAAAAAA"), "/w==");
  assert.throws(() => t.pcm24ToTwilioPayload("not base64!"), SyntaxError);
});

Deno.test("transcoder: steady 20 ms frames reuse the same output buffers", () => {
  const t = new MediaTranscoder();
  const frame = speech.subarray(8000, 8160).toBase64();
  const a = t.twilioPayloadToPcm24Bytes(frame);
  const b = t.twilioPayloadToPcm24Bytes(frame);
  assert.equal(a, b, "same Uint8Array instance");
  assert.equal(a.length, 960);
  const back = a.toBase64();
  const c = t.pcm24ToTwilioBytes(back);
  assert.equal(t.pcm24ToTwilioBytes(back), c);
  assert.equal(c.length, 160);
});

Deno.test("transcoder: heap allocation per frame measured with exposed GC", async () => {
  const script = new URL("../../scripts/codec_alloc_check.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--v8-flags=--expose-gc,--min-semi-space-size=64", "--allow-read", script.href],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  console.log(r);
  // The DSP core (decode, upsample, downsample, encode into buffers) allocates nothing.
  assert.ok(r.coreBytesPerFrame < 8, `core allocates ${r.coreBytesPerFrame} B/frame`);
  // Left in the pipeline: setFromBase64's small result records, then the two result strings.
  assert.ok(r.pipelineWithoutToBase64BytesPerFrame < 256);
  assert.ok(r.fullPipelineBytesPerFrame < r.resultStringChars + 512);
});

Deno.test("transcoder: reset('toCaller') drops a half sample left by the old audio", () => {
  // Loud PCM16 at 24 kHz, as the model would send after a barge-in.
  const fresh = new Uint8Array(2 * 960);
  const view = new DataView(fresh.buffer);
  for (let i = 0; i < 960; i++) view.setInt16(2 * i, Math.round(8000 * Math.sin(i / 7)), true);
  const want = new MediaTranscoder().pcm24ToTwilioPayload(fresh.toBase64());
  // The interrupted audio ended on an odd byte; after the reset it must not shift the new one.
  const t = new MediaTranscoder();
  t.pcm24ToTwilioPayload(new Uint8Array([1, 2, 3]).toBase64());
  t.reset("toCaller");
  assert.equal(t.pcm24ToTwilioPayload(fresh.toBase64()), want);
});
