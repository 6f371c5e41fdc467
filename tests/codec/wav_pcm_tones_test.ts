import assert from "node:assert/strict";
import { hasCommand, needs, reportSkip } from "../support/requirements.ts";
import { decodeMulaw, encodeMulaw } from "../../src/codec/mulaw.ts";
import {
  base64DecodedLength,
  base64ToBytes,
  bytesToBase64,
  pcm16FromBytes,
  pcm16ToBytes,
} from "../../src/codec/pcm.ts";
import { decodeWav, encodeWav, wavHeader, wavToPcm16 } from "../../src/codec/wav.ts";
import {
  mulawSilence,
  mulawSilencePayload,
  synthTone,
  synthToneMulaw,
} from "../../src/codec/tones.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const SOX = await hasCommand("sox");
if (!SOX) reportSkip("the WAV cross-check with sox", "sox", "apt-get install sox");

Deno.test("pcm16 byte views share memory (no copy) and are little-endian", () => {
  const s = Int16Array.of(1, -2, 0x1234);
  const b = pcm16ToBytes(s);
  assert.deepEqual(Array.from(b), [1, 0, 0xfe, 0xff, 0x34, 0x12]);
  assert.equal(b.buffer, s.buffer);
  s[0] = 0x0102;
  assert.equal(b[1], 1, "a view sees later writes");
  const back = pcm16FromBytes(b);
  assert.equal(back.buffer, s.buffer);
  assert.deepEqual(back, s);
  // Odd offset cannot be viewed as Int16: copied, same values.
  const odd = new Uint8Array(7);
  odd.set(b, 1);
  const copied = pcm16FromBytes(odd.subarray(1));
  assert.notEqual(copied.buffer, odd.buffer);
  assert.deepEqual(copied, s);
  assert.throws(() => pcm16FromBytes(new Uint8Array(3)), RangeError);
});

Deno.test("base64 helpers round-trip and size setFromBase64 targets exactly", () => {
  const bytes = Uint8Array.from({ length: 257 }, (_, i) => (i * 37) & 0xff);
  for (let n = 0; n < 10; n++) {
    const b64 = bytesToBase64(bytes.subarray(0, n));
    assert.equal(base64DecodedLength(b64), n);
    assert.deepEqual(base64ToBytes(b64), bytes.subarray(0, n));
  }
  assert.equal(bytesToBase64(Uint8Array.of(1, 2)), "AQI=");
  assert.equal(base64DecodedLength("AQI"), 2); // unpadded
});

Deno.test("wav: PCM16 header is the canonical 44 bytes and round-trips", () => {
  const samples = Int16Array.of(0, 1, -1, 32767, -32768);
  const wav = encodeWav(samples, { encoding: "pcm16", sampleRate: 24000, channels: 1 });
  assert.equal(wav.length, 44 + 10);
  const dv = new DataView(wav.buffer);
  assert.equal(new TextDecoder().decode(wav.subarray(0, 4)), "RIFF");
  assert.equal(dv.getUint32(4, true), 36 + 10);
  assert.equal(dv.getUint16(20, true), 1);
  assert.equal(dv.getUint32(24, true), 24000);
  assert.equal(dv.getUint32(28, true), 48000);
  assert.equal(dv.getUint16(34, true), 16);
  assert.equal(dv.getUint32(40, true), 10);
  const back = decodeWav(wav);
  assert.deepEqual({ ...back, data: undefined }, {
    encoding: "pcm16",
    sampleRate: 24000,
    channels: 1,
    data: undefined,
  });
  assert.deepEqual(wavToPcm16(back), samples);
  assert.equal(wavHeader({ encoding: "mulaw", sampleRate: 8000, channels: 1 }, 3).length, 58);
});

Deno.test("wav: mu-law round trip with odd length (pad byte)", () => {
  const codes = encodeMulaw(synthTone({ frequencyHz: 440, durationMs: 10 }).subarray(0, 79));
  const wav = encodeWav(codes, { encoding: "mulaw", sampleRate: 8000, channels: 1 });
  assert.equal(wav.length % 2, 0);
  const back = decodeWav(wav);
  assert.equal(back.encoding, "mulaw");
  assert.deepEqual(back.data, codes);
});

Deno.test({
  name: "wav: sox reads what we write, sample for sample" + needs("sox"),
  ignore: !SOX,
  fn: soxReadsOurWav,
});

async function soxReadsOurWav(): Promise<void> {
  const codes = encodeMulaw(synthTone({ frequencyHz: 440, durationMs: 10 }).subarray(0, 79));
  const wav = encodeWav(codes, { encoding: "mulaw", sampleRate: 8000, channels: 1 });
  const dir = await Deno.makeTempDir({ prefix: "codec_wav_" });
  try {
    await Deno.writeFile(`${dir}/a.wav`, wav);
    const out = await new Deno.Command("sox", {
      args: [`${dir}/a.wav`, "-t", "raw", "-e", "signed", "-b", "16", `${dir}/a.raw`],
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const soxPcm = new Int16Array((await Deno.readFile(`${dir}/a.raw`)).buffer);
    assert.deepEqual(soxPcm, decodeMulaw(codes));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("wav: reads the sox-made speech fixtures; mu-law and PCM16 versions agree", async () => {
  for (const name of ["caller_book_haircut", "caller_repeat_that", "agent_greeting"]) {
    const mu = decodeWav(await Deno.readFile(new URL(`${name}_8k_mulaw.wav`, FIXTURES)));
    const pcm = decodeWav(await Deno.readFile(new URL(`${name}_8k_pcm16.wav`, FIXTURES)));
    const raw = await Deno.readFile(new URL(`${name}_8k_mulaw.raw`, FIXTURES));
    assert.equal(mu.encoding, "mulaw");
    assert.equal(pcm.encoding, "pcm16");
    assert.equal(mu.sampleRate, 8000);
    assert.equal(pcm.sampleRate, 8000);
    assert.deepEqual(mu.data, raw);
    const speech = wavToPcm16(pcm);
    assert.equal(speech.length, raw.length);
    assert.ok(speech.length > 8000 * 1.5, "at least 1.5 s of speech");
    // sox encoded the PCM16 file: our encoder is within one level of it everywhere.
    const ours = encodeMulaw(speech);
    const ladder = (c: number) => (c & 0x80 ? 0xff - c : c - 0x80);
    for (let i = 0; i < raw.length; i++) assert.ok(Math.abs(ladder(ours[i]) - ladder(raw[i])) <= 1);
  }
});

Deno.test("wav: rejects what it cannot read with a clear error", () => {
  assert.throws(() => decodeWav(new Uint8Array(10)), /not a RIFF\/WAVE/);
  const float = encodeWav(new Int16Array(2), { encoding: "pcm16", sampleRate: 8000, channels: 1 });
  new DataView(float.buffer).setUint16(20, 3, true); // IEEE float
  assert.throws(() => decodeWav(float), /unsupported WAV format tag 3/);
  assert.throws(
    () => encodeWav(new Uint8Array(2), { encoding: "pcm16", sampleRate: 8000, channels: 1 }),
    TypeError,
  );
});

Deno.test("tones: silence frames are 0xFF, beeps have the asked frequency, level and fades", () => {
  assert.deepEqual(mulawSilence(20), new Uint8Array(160).fill(0xff));
  assert.deepEqual(base64ToBytes(mulawSilencePayload(20)), new Uint8Array(160).fill(0xff));
  const tone = synthTone({ frequencyHz: 1000, durationMs: 100, levelDbfs: -6, fadeMs: 5 });
  assert.equal(tone.length, 800);
  assert.equal(tone[0], 0);
  const peak = Math.max(...tone.map(Math.abs));
  assert.ok(Math.abs(20 * Math.log10(peak / 32767) + 6) < 0.1, `peak ${peak}`);
  // Zero crossings of a 1 kHz tone: 2 per ms over the steady part.
  let crossings = 0;
  for (let i = 41; i < 760; i++) if (tone[i] > 0 !== tone[i - 1] > 0) crossings++;
  assert.ok(Math.abs(crossings - 2 * (719 / 8)) <= 2, `crossings ${crossings}`);
  assert.equal(synthToneMulaw({ frequencyHz: [440, 480], durationMs: 20 }).length, 160);
  assert.throws(() => synthTone({ frequencyHz: 4000, durationMs: 10 }), RangeError);
});
