/**
 * Measures heap bytes allocated per 20 ms frame by the codec hot path, in steady state.
 *
 * Run: deno run --v8-flags=--expose-gc,--min-semi-space-size=64 --allow-read \
 *        scripts/codec_alloc_check.ts
 * The large young generation keeps V8 from collecting during the measured loop, so the growth
 * of `heapUsed` over N frames (after a forced GC) is what those frames allocated.
 * Prints one JSON line: bytes per frame for each stage.
 *
 * @module
 */

import { decodeMulawInto, encodeMulawInto } from "../src/codec/mulaw.ts";
import { Downsampler24kTo8k, Upsampler8kTo24k } from "../src/codec/resample.ts";
import { MediaTranscoder } from "../src/codec/transcoder.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

/** Heap bytes allocated per call of `fn`, averaged over `frames` calls after warm-up. */
function perFrame(fn: () => void, frames = 2000): number {
  for (let i = 0; i < 3000; i++) fn(); // warm up: JIT, buffer growth
  gc!();
  const before = Deno.memoryUsage().heapUsed;
  for (let i = 0; i < frames; i++) fn();
  const after = Deno.memoryUsage().heapUsed;
  return Math.max(0, (after - before) / frames);
}

const codes = new Uint8Array(160);
for (let i = 0; i < 160; i++) codes[i] = (i * 73) & 0xff;
const pcm8 = new Int16Array(160);
const pcm24 = new Int16Array(480);
const back8 = new Int16Array(160);
const backCodes = new Uint8Array(160);
const up = new Upsampler8kTo24k();
const down = new Downsampler24kTo8k();
const core = perFrame(() => {
  decodeMulawInto(codes, pcm8);
  up.processInto(pcm8, pcm24);
  down.processInto(pcm24, back8);
  encodeMulawInto(back8, backCodes);
});

const t = new MediaTranscoder();
const twilioPayload = codes.toBase64();
const openAiPayload = new Uint8Array(pcm24.buffer).toBase64();
const bytesOnly = perFrame(() => {
  t.twilioPayloadToPcm24Bytes(twilioPayload);
  t.pcm24ToTwilioBytes(openAiPayload);
});
let keep = "";
const full = perFrame(() => {
  keep = t.twilioPayloadToPcm24(twilioPayload);
  keep = t.pcm24ToTwilioPayload(openAiPayload);
});
// The two result strings are unavoidable: 1280 + 216 base64 characters per frame.
console.log(JSON.stringify({
  coreBytesPerFrame: core,
  pipelineWithoutToBase64BytesPerFrame: bytesOnly,
  fullPipelineBytesPerFrame: full,
  resultStringChars: keep.length + openAiPayload.length,
}));
