import assert from "node:assert/strict";
import alawmulaw from "alawmulaw";
import { hasCommand, needs, reportSkip } from "../support/requirements.ts";
import {
  decodeMulaw,
  decodeMulawInto,
  encodeMulaw,
  encodeMulawInto,
  MULAW_SILENCE,
} from "../../src/codec/mulaw.ts";

/** All 65,536 PCM16 values, ascending from -32768. */
function allPcm16(): Int16Array {
  const all = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) all[i] = i - 32768;
  return all;
}

/**
 * ITU-T G.191 STL `ulaw_compress`, transcribed line by line from g711.c (independent of the
 * table-driven encoder under test).
 */
function g191UlawCompress(linbuf: number): number {
  let absno = linbuf < 0 ? ((~linbuf) >> 2) + 33 : (linbuf >> 2) + 33;
  if (absno > 0x1FFF) absno = 0x1FFF;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const highNibble = 0x0008 - segno;
  let lowNibble = (absno >> segno) & 0x000F;
  lowNibble = 0x000F - lowNibble;
  let out = (highNibble << 4) | lowNibble;
  if (linbuf >= 0) out = out | 0x0080;
  return out;
}

/** G.711 Table 2 reconstruction level, 14-bit ((2m + 33) * 2^e - 33) scaled to 16 bits. */
function g711Level(code: number): number {
  const c = ~code & 0xff;
  const e = (c >> 4) & 7;
  const m = c & 15;
  const mag = (((2 * m + 33) << e) - 33) * 4;
  return c & 0x80 ? 0 - mag : mag; // 0 - 0 is +0, as an Int16Array holds it
}

/** Position of a code on the ordered ladder of levels: -128 (0x00) .. -1 (0x7F), 0 (0xFF) .. 127. */
function ladder(code: number): number {
  return code & 0x80 ? 0xff - code : code - 0x80;
}

/** Model of sox 14.4's path: round to 14 bits (clip at 8191), then Sun `sox_14linear2ulaw`. */
function soxModel(x: number): number {
  let v = Math.min((x + 2) >> 2, 8191);
  let mask = 0xff;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  }
  if (v > 8159) v = 8159;
  v += 33;
  const segEnd = [0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff, 0x1fff];
  let seg = 0;
  while (seg < 8 && v > segEnd[seg]) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((v >> (seg + 1)) & 0xf)) ^ mask;
}

async function sox(args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("sox", { args, stdout: "null" }).output();
  // sox warns (on stderr) that it clipped 32766/32767 when rounding to 14 bits; only failure counts.
  assert.ok(success, `sox ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`);
}

Deno.test("mu-law decode: all 256 codes equal the G.711 reconstruction levels", () => {
  const codes = new Uint8Array(256).map((_, i) => i);
  const pcm = decodeMulaw(codes);
  for (let c = 0; c < 256; c++) assert.equal(pcm[c], g711Level(c), `code 0x${c.toString(16)}`);
  // Anchors from the standard: full scale and both zeros.
  assert.deepEqual([pcm[0x00], pcm[0x80], pcm[0xff], pcm[0x7f]], [-32124, 32124, 0, 0]);
  assert.equal(pcm[MULAW_SILENCE], 0);
  // The npm baseline decodes identically (decoding is unambiguous in G.711).
  assert.deepEqual(Array.from(alawmulaw.mulaw.decode(codes)), Array.from(pcm));
});

Deno.test("mu-law encode: all 65,536 PCM16 inputs equal G.191 ulaw_compress", () => {
  const all = allPcm16();
  const codes = encodeMulaw(all);
  for (let i = 0; i < all.length; i++) {
    assert.equal(codes[i], g191UlawCompress(all[i]), `x=${all[i]}`);
  }
  // Negative values: ones' complement magnitude, so -1..-4 are "negative zero" (0x7F) and
  // -5 is the first to reach level 1; positive 0..3 are +0 (0xFF).
  assert.deepEqual(Array.from(encodeMulaw(Int16Array.of(-1, -4, -5, 0, 3, 4))), [
    0x7f,
    0x7f,
    0x7e,
    0xff,
    0xff,
    0xfe,
  ]);
});

Deno.test("mu-law encode: quantizer is monotonic and decode(encode(x)) stays within half a step", () => {
  const all = allPcm16();
  const codes = encodeMulaw(all);
  const back = decodeMulaw(codes);
  for (let i = 1; i < all.length; i++) {
    assert.ok(ladder(codes[i]) >= ladder(codes[i - 1]), `not monotonic at x=${all[i]}`);
  }
  for (let i = 0; i < all.length; i++) {
    const x = all[i];
    if (Math.abs(x) > 32124) continue; // beyond the last level the error is plain clipping
    const e = (ladder(codes[i]) < 0 ? -ladder(codes[i]) - 1 : ladder(codes[i])) >> 4;
    const halfStep = 4 << e; // segment e has steps of 8 << e in 16-bit units
    assert.ok(Math.abs(back[i] - x) <= halfStep + 4, `x=${x} -> ${back[i]}`);
  }
  // Every code except negative zero survives decode -> encode unchanged.
  const codesAll = new Uint8Array(256).map((_, i) => i);
  const again = encodeMulaw(decodeMulaw(codesAll));
  for (let c = 0; c < 256; c++) assert.equal(again[c], c === 0x7f ? 0xff : c);
});

const SOX = await hasCommand("sox");
if (!SOX) reportSkip("the mu-law sox cross-check", "sox", "apt-get install sox");

Deno.test({
  name: "mu-law encode: never more than one code away from sox -D (sox rounds, G.191 truncates)" +
    needs("sox"),
  ignore: !SOX,
  fn: soxCrossCheck,
});

async function soxCrossCheck(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "codec_sox_" });
  try {
    const all = allPcm16();
    await Deno.writeFile(`${dir}/in.raw`, new Uint8Array(all.buffer));
    await sox([
      "-D",
      ...["-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", `${dir}/in.raw`],
      ...["-t", "raw", "-e", "u-law", `${dir}/out.raw`],
    ]);
    const soxCodes = await Deno.readFile(`${dir}/out.raw`);
    assert.equal(soxCodes.length, 65536);
    const ours = encodeMulaw(all);
    let differ = 0;
    for (let i = 0; i < 65536; i++) {
      const d = ladder(soxCodes[i]) - ladder(ours[i]);
      assert.ok(
        Math.abs(d) <= 1,
        `x=${all[i]}: sox 0x${soxCodes[i].toString(16)} ours 0x${ours[i]}`,
      );
      if (d !== 0) differ++;
      // The difference is explained exactly: sox rounds to 14 bits before encoding.
      assert.equal(soxCodes[i], soxModel(all[i]), `sox model at x=${all[i]}`);
    }
    // Only inputs at decision boundaries differ (one or two per level, 510 of 65,536).
    assert.ok(differ > 0 && differ <= 512, `differ=${differ}`);

    // Decoding agrees with sox on all 256 codes.
    const codes = new Uint8Array(256).map((_, i) => i);
    await Deno.writeFile(`${dir}/codes.raw`, codes);
    await sox([
      "-D",
      ...["-t", "raw", "-r", "8000", "-e", "u-law", "-c", "1", `${dir}/codes.raw`],
      ...["-t", "raw", "-e", "signed", "-b", "16", `${dir}/pcm.raw`],
    ]);
    const soxPcm = new Int16Array((await Deno.readFile(`${dir}/pcm.raw`)).buffer);
    assert.deepEqual(Array.from(soxPcm), Array.from(decodeMulaw(codes)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("mu-law *Into variants write in place and reject short outputs", () => {
  const pcm = Int16Array.of(0, 1000, -1000, 32767, -32768);
  const codes = new Uint8Array(8).fill(0xaa);
  assert.equal(encodeMulawInto(pcm, codes), 5);
  assert.deepEqual(Array.from(codes.subarray(0, 5)), Array.from(encodeMulaw(pcm)));
  assert.equal(codes[5], 0xaa);
  const out = new Int16Array(5);
  assert.equal(decodeMulawInto(codes.subarray(0, 5), out), 5);
  assert.deepEqual(out, decodeMulaw(codes.subarray(0, 5)));
  assert.throws(() => encodeMulawInto(pcm, new Uint8Array(4)), RangeError);
  assert.throws(() => decodeMulawInto(codes, new Int16Array(4)), RangeError);
});

Deno.test("mu-law: SIMD kernels are exact for any alignment, length and chunking", () => {
  // Views at odd offsets, lengths that end mid-block (16 per block), inputs longer than one
  // 16384-sample chunk and reused buffers must all give the reference codes and levels.
  const all = allPcm16();
  const wantCodes = Uint8Array.from(all, (x) => g191UlawCompress(x));
  const wantPcm = Int16Array.from(wantCodes, (c) => g711Level(c));
  const pcmStore = new Int16Array(all.length + 2);
  const codeStore = new Uint8Array(all.length + 3);
  const pcmOut = new Int16Array(all.length + 2);
  for (const pcmAt of [0, 1, 2]) {
    for (const codeAt of [0, 1, 2, 3]) {
      for (const n of [0, 1, 3, 4, 5, 7, 160, 1001, all.length]) {
        const start = (n * 7919) % (all.length - n + 1); // vary the values, not just the start
        const pcm = pcmStore.subarray(pcmAt, pcmAt + n);
        pcm.set(all.subarray(start, start + n));
        const codes = codeStore.subarray(codeAt, codeAt + n);
        codes.fill(0xaa);
        encodeMulawInto(pcm, codes);
        assert.deepEqual(codes, wantCodes.subarray(start, start + n), `${pcmAt} ${codeAt} ${n}`);
        const back = pcmOut.subarray(pcmAt, pcmAt + n);
        decodeMulawInto(codes, back);
        assert.deepEqual(back, wantPcm.subarray(start, start + n), `${pcmAt} ${codeAt} ${n}`);
      }
    }
  }
});
