import alawmulaw from "alawmulaw";
import {
  decodeMulaw,
  decodeMulawInto,
  encodeMulaw,
  encodeMulawInto,
} from "../../src/codec/mulaw.ts";
import { Downsampler24kTo8k, Upsampler8kTo24k } from "../../src/codec/resample.ts";
import { MediaTranscoder } from "../../src/codec/transcoder.ts";

// One second of speech-like test signal at 8 kHz: a few tones with a slow envelope.
const pcm8k = new Int16Array(8000).map((_, i) =>
  Math.round(
    9000 * Math.sin(i / 40) *
      (Math.sin(i * 0.31) + 0.5 * Math.sin(i * 0.97) + 0.3 * Math.sin(i * 2.1)),
  )
);
const codes8k = encodeMulaw(pcm8k);
const frameCodes = codes8k.subarray(4000, 4160);
const framePcm8 = pcm8k.subarray(4000, 4160);
const codesOut = new Uint8Array(8000);
const pcmOut = new Int16Array(8000);

// Like for like, twice: (1) both allocate a new output array per call (alawmulaw's
// `mulaw.encode(Int16Array)` / `mulaw.decode(Uint8Array)` against our `encodeMulaw` /
// `decodeMulaw`); (2) both write into the same reused buffer (our `*Into`, which the bridge
// uses, against alawmulaw's per-sample `encodeSample` / `decodeSample` in a loop).
const { encodeSample, decodeSample } = alawmulaw.mulaw;
Deno.bench("mu-law encode 1 s, new array (ours)", { group: "enc-new", baseline: true }, () => {
  encodeMulaw(pcm8k);
});
Deno.bench("mu-law encode 1 s, new array (alawmulaw)", { group: "enc-new" }, () => {
  alawmulaw.mulaw.encode(pcm8k);
});
Deno.bench("mu-law encode 1 s, into buffer (ours)", { group: "enc-into", baseline: true }, () => {
  encodeMulawInto(pcm8k, codesOut);
});
Deno.bench("mu-law encode 1 s, into buffer (alawmulaw)", { group: "enc-into" }, () => {
  for (let i = 0; i < pcm8k.length; i++) codesOut[i] = encodeSample(pcm8k[i]);
});
Deno.bench("mu-law decode 1 s, new array (ours)", { group: "dec-new", baseline: true }, () => {
  decodeMulaw(codes8k);
});
Deno.bench("mu-law decode 1 s, new array (alawmulaw)", { group: "dec-new" }, () => {
  alawmulaw.mulaw.decode(codes8k);
});
Deno.bench("mu-law decode 1 s, into buffer (ours)", { group: "dec-into", baseline: true }, () => {
  decodeMulawInto(codes8k, pcmOut);
});
Deno.bench("mu-law decode 1 s, into buffer (alawmulaw)", { group: "dec-into" }, () => {
  for (let i = 0; i < codes8k.length; i++) pcmOut[i] = decodeSample(codes8k[i]);
});

/** The resampler a user would write first: linear interpolation / every third sample. */
class LinearUp {
  #last = 0;
  process(x: Int16Array, out: Int16Array): void {
    let prev = this.#last;
    for (let i = 0, o = 0; i < x.length; i++, o += 3) {
      const cur = x[i];
      out[o] = Math.round(prev + (cur - prev) / 3);
      out[o + 1] = Math.round(prev + (2 * (cur - prev)) / 3);
      out[o + 2] = cur;
      prev = cur;
    }
    this.#last = prev;
  }
}
function linearDown(x: Int16Array, out: Int16Array): void {
  for (let i = 0, o = 0; i + 2 < x.length; i += 3, o++) {
    out[o] = Math.round((x[i] + x[i + 1] + x[i + 2]) / 3);
  }
}

const up = new Upsampler8kTo24k();
const down = new Downsampler24kTo8k();
const lin = new LinearUp();
const frame24 = new Int16Array(480);
const frame8 = new Int16Array(160);
up.processInto(framePcm8, frame24);

Deno.bench(
  "upsample 20 ms 8k->24k (ours, 109-tap polyphase, wasm SIMD)",
  { group: "up", baseline: true },
  () => {
    up.processInto(framePcm8, frame24);
  },
);
Deno.bench("upsample 20 ms 8k->24k (linear interpolation)", { group: "up" }, () => {
  lin.process(framePcm8, frame24);
});
Deno.bench(
  "downsample 20 ms 24k->8k (ours, 109-tap FIR, wasm SIMD)",
  { group: "down", baseline: true },
  () => {
    down.processInto(frame24, frame8);
  },
);
Deno.bench("downsample 20 ms 24k->8k (3-sample average)", { group: "down" }, () => {
  linearDown(frame24, frame8);
});

const t = new MediaTranscoder();
const twilioPayload = frameCodes.toBase64();
const openAiPayload = new Uint8Array(frame24.buffer).toBase64();
Deno.bench("20 ms frame round trip: base64 -> decode+upsample -> base64, and back", {
  group: "frame",
}, () => {
  t.twilioPayloadToPcm24(twilioPayload);
  t.pcm24ToTwilioPayload(openAiPayload);
});
