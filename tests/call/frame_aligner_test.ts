import assert from "node:assert/strict";
import { FrameAligner } from "../../src/call/frame_aligner.ts";
import { MULAW_FRAME_BYTES as FRAME_BYTES } from "../../src/codec/mulaw.ts";

function bytes(n: number, start: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) % 251);
}

Deno.test("frame aligner: hands out whole 20 ms frames and carries the rest, in order", () => {
  const a = new FrameAligner();
  const out: number[] = [];
  let fed = 0;
  for (const n of [1, 159, 161, 7, 480, 333, 0, 99]) {
    a.append(bytes(n, fed));
    fed += n;
    const frames = a.takeAligned();
    assert.equal(frames.length % FRAME_BYTES, 0);
    out.push(...frames);
    assert.equal(a.pending, fed - out.length);
    assert.ok(a.pending < FRAME_BYTES);
  }
  const tail = a.flush();
  assert.equal(tail.length, FRAME_BYTES, "the remainder is padded to one frame");
  const real = fed - out.length;
  out.push(...tail.subarray(0, real));
  assert.deepEqual(Uint8Array.from(out), bytes(fed, 0), "bytes unchanged and in order");
  assert.ok(tail.subarray(real).every((b) => b === 0xff), "padding is mu-law silence");
  assert.equal(a.pending, 0);
});

Deno.test("frame aligner: held audio can be taken later in one piece; reset drops it", () => {
  const a = new FrameAligner();
  for (let i = 0; i < 50; i++) a.append(bytes(160, i)); // 1 s held, more than the buffer
  assert.equal(a.pending, 8000);
  const flushed = a.flush();
  assert.equal(flushed.length, 8000);
  a.append(bytes(300, 0));
  a.reset();
  assert.equal(a.pending, 0);
  assert.equal(a.flush().length, 0);
});
