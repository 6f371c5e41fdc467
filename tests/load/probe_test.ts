import assert from "node:assert/strict";
import {
  callerNumber,
  callIndexIn,
  FRAME_BYTES,
  readStamp,
  StampedFrames,
  stampSentAt,
  writeStamp,
} from "../../scripts/load/probe.ts";

Deno.test("load stamps: a frame built from its encoded head and constant tail is the whole frame's base64", () => {
  const frames = new StampedFrames(0xfe);
  for (
    const [idx, seq, at] of [[0, 0, 0], [7, 123_456, 1795951486415.8716], [99_999, 2 ** 32 - 1, 1]]
  ) {
    const whole = new Uint8Array(FRAME_BYTES).fill(0xfe);
    writeStamp(whole, idx, seq, at);
    const b64 = frames.base64(idx, seq, at);
    assert.equal(b64, whole.toBase64());
    const bytes = Uint8Array.fromBase64(b64);
    assert.deepEqual(readStamp(bytes), { sessionOrCall: idx, seq });
    assert.equal(stampSentAt(bytes), at);
  }
});

Deno.test("load callers: the number names the call, and only a caller number does", () => {
  assert.equal(callerNumber(7), "+15557700007");
  assert.equal(callIndexIn(`You are talking to ${callerNumber(4321)} today.`), 4321);
  // The number called and other numbers in the instructions are not callers.
  assert.equal(callIndexIn("Called +15559990000, transfer to +15551234567"), -1);
  assert.throws(() => callerNumber(100_000));
});
