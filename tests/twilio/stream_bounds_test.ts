/**
 * What a hostile or broken peer can make one media stream do, in virtual time: the abuse
 * volumes of issue 20 (timestamp jumps that used to be filled with minutes of silence, a
 * flood of valid frames, huge payloads, backward timestamps, huge and binary frames) and a
 * stream that goes silent. Audio delivered to the call never outruns the wall clock by
 * more than `maxAheadMs`; a peer that is not Twilio is cut off.
 */
import assert from "node:assert/strict";
import {
  type StreamListener,
  TwilioStream,
  type TwilioStreamOptions,
} from "../../src/twilio/media_stream.ts";
import { startMessage } from "../../src/sim/twilio_caller.ts";
import { FakeSocket } from "../support/stream_socket.ts";
import { VirtualClock } from "../support/virtual_clock.ts";

/** The default `maxAheadMs`. */
const DEFAULT_MAX_AHEAD_MS = 1000;
const SID = "MZ" + "0123456789abcdef".repeat(2);
const CALL = "CA" + "f".repeat(32);

function mediaFrame(seq: number, timestamp: number, bytes = 160): string {
  return JSON.stringify({
    event: "media",
    sequenceNumber: String(seq),
    streamSid: SID,
    media: {
      track: "inbound",
      chunk: String(seq),
      timestamp: String(timestamp),
      payload: new Uint8Array(bytes).fill(0x7f).toBase64(),
    },
  });
}

/** A started stream on a virtual clock, with a consumer that counts what it is given. */
function started(options: TwilioStreamOptions = {}) {
  const clock = new VirtualClock();
  const socket = new FakeSocket();
  const problems: string[] = [];
  const stream = new TwilioStream(socket, {
    clock,
    onProtocolError: (reason) => problems.push(reason),
    ...options,
  });
  const got = { frames: 0, bytes: 0, closes: [] as string[], timestamps: [] as number[] };
  const listener: StreamListener = {
    media: (mulawBase64, ts) => {
      got.frames++;
      got.bytes += Uint8Array.fromBase64(mulawBase64).length;
      got.timestamps.push(ts);
    },
    mark() {},
    dtmf() {},
    stop() {},
    close: (code, reason) => got.closes.push(`${code} ${reason}`),
  };
  socket.json(startMessage({
    accountSid: "AC" + "0".repeat(32),
    streamSid: SID,
    callSid: CALL,
    customParameters: {},
  }));
  stream.attach(listener);
  /** Audio delivered to the consumer, ms. */
  const deliveredMs = () => got.bytes / 8;
  return { clock, socket, stream, got, problems, deliveredMs };
}

Deno.test("bounds: 200 frames each +10 s ahead deliver no more audio than time has passed", async () => {
  // Issue 20: this produced 99,501 appends (about 33 minutes of audio billed by the model).
  const { clock, socket, stream, got, deliveredMs } = started();
  for (let i = 0; i < 200; i++) {
    socket.receive(mediaFrame(i + 2, i * 10_000));
    if (i % 20 === 19) await clock.advance(100); // as fast as a socket delivers them: 1 s in all
  }
  const elapsed = clock.now();
  assert.ok(
    deliveredMs() <= elapsed + DEFAULT_MAX_AHEAD_MS,
    `delivered ${deliveredMs()} ms of audio in ${elapsed} ms`,
  );
  assert.ok(got.frames < 100, `${got.frames} frames delivered`);
  assert.ok((stream.counters.dropped.ahead_of_time ?? 0) >= 199);
  assert.equal(socket.closedWith, undefined, "a skewed clock is dropped, not fatal");
});

Deno.test("bounds: a flood of valid frames ends the stream; the model gets at most a second ahead", async () => {
  // Issue 20: 43,800 frames in 5.8 s sent 876 s of audio to the model in under 6 s.
  const { clock, socket, stream, got, problems, deliveredMs } = started();
  let sent = 0;
  for (; sent < 43_800 && !stream.closed; sent++) socket.receive(mediaFrame(sent + 2, sent * 20));
  await clock.advance(0);
  assert.ok(sent <= 1001, `the stream took ${sent} frames before ending`);
  assert.deepEqual(socket.closedWith, { code: 1008, reason: "rate limit exceeded" });
  assert.deepEqual(got.closes, ["1008 rate limit exceeded"], "the call hears of it at once");
  assert.equal(stream.counters.endedBy, "rate_limited");
  assert.ok(problems.includes("rate_limited"));
  assert.ok(deliveredMs() <= DEFAULT_MAX_AHEAD_MS, `${deliveredMs()} ms delivered at time 0`);
});

Deno.test("bounds: frames at twice real time stay within a second of the wall clock", async () => {
  const { clock, socket, stream, deliveredMs } = started();
  let seq = 2;
  for (let tick = 0; tick < 100; tick++) { // 10 s at 100 frames a second, each 20 ms of audio
    for (let i = 0; i < 10; i++, seq++) socket.receive(mediaFrame(seq, (seq - 2) * 20));
    await clock.advance(100);
    assert.ok(deliveredMs() <= clock.now() + DEFAULT_MAX_AHEAD_MS);
  }
  assert.equal(stream.closed, false, "100 frames a second is within the rate limit");
  assert.ok((stream.counters.dropped.ahead_of_time ?? 0) >= 800);
});

Deno.test("bounds: a backlog after a network stall is delivered in full", async () => {
  const { clock, socket, stream, deliveredMs } = started();
  await clock.advance(5000); // 5 s of Twilio's frames held up in the network...
  for (let i = 0; i < 250; i++) socket.receive(mediaFrame(i + 2, i * 20)); // ...arrive at once
  assert.equal(deliveredMs(), 5000);
  assert.deepEqual(stream.counters.dropped, {});
  assert.equal(stream.closed, false);
});

Deno.test("bounds: big payloads are dropped (a 48,000-byte one ends the stream); 160 bytes pass", () => {
  const { socket, stream, got, problems } = started();
  socket.receive(mediaFrame(2, 0, 4000)); // half a second in one frame
  assert.equal(got.frames, 0);
  assert.deepEqual(stream.counters.dropped, { payload_too_large: 1 });
  assert.deepEqual(problems, ["payload_too_large"]);
  socket.receive(mediaFrame(3, 0, 160));
  socket.receive(mediaFrame(4, 20, 320));
  assert.equal(got.frames, 2);
  socket.receive(mediaFrame(5, 60, 48_000)); // issue 20: 6 s of audio in one frame
  assert.equal(got.frames, 2);
  assert.equal(stream.counters.endedBy, "oversized_frame");
});

Deno.test("bounds: backward and repeated timestamps are dropped as out of order", async () => {
  const { clock, socket, stream, got } = started();
  await clock.advance(1000);
  socket.receive(mediaFrame(2, 500));
  socket.receive(mediaFrame(3, 520));
  socket.receive(mediaFrame(4, 520)); // the same frame again
  socket.receive(mediaFrame(5, 100)); // backwards
  socket.receive(mediaFrame(6, 540));
  assert.deepEqual(got.timestamps, [500, 520, 540]);
  assert.equal(stream.counters.dropped.out_of_order, 2);
});

Deno.test("bounds: the first oversized frame ends the stream (1009), nothing after it is read", () => {
  const { socket, stream, got, problems } = started();
  socket.receive("x".repeat(16 * 1024 * 1024)); // issue 20: 16 MB frames
  assert.deepEqual(socket.closedWith, { code: 1009, reason: "frame too large" });
  assert.equal(stream.counters.endedBy, "oversized_frame");
  assert.deepEqual(got.closes, ["1009 frame too large"]);
  socket.receive(mediaFrame(2, 0));
  assert.equal(got.frames, 0);
  assert.deepEqual(problems, ["oversized", "oversized_frame"]);
});

Deno.test("bounds: a binary frame ends the stream (1003), before start too", () => {
  const { socket, stream, got } = started();
  socket.receive(new Uint8Array([1, 2, 3]).buffer);
  assert.deepEqual(socket.closedWith, { code: 1003, reason: "binary frame" });
  assert.equal(stream.counters.endedBy, "binary_frame");
  assert.deepEqual(got.closes, ["1003 binary frame"]);

  const early = new FakeSocket();
  const closes: number[] = [];
  const pending = new TwilioStream(early, { clock: new VirtualClock() });
  pending.on("close", (code) => closes.push(code));
  early.receive(new Uint8Array(4096).buffer);
  assert.deepEqual(closes, [1003], "the route's start timer learns of it at once");
});

Deno.test("media watchdog: a started stream that sends no media for 10 s is ended", async () => {
  const { clock, socket, stream, got, problems } = started();
  for (let t = 0; t < 1000; t += 100) {
    for (let f = t; f < t + 100; f += 20) socket.receive(mediaFrame(2 + f / 20, f));
    await clock.advance(100);
  }
  await clock.advance(9_800); // the last frame came at 900 ms
  assert.equal(stream.closed, false, "not yet: 9.9 s of silence");
  await clock.advance(200);
  assert.deepEqual(socket.closedWith, { code: 1000, reason: "no media" });
  assert.deepEqual(got.closes, ["1000 no media"]);
  assert.equal(stream.counters.endedBy, "media_timeout");
  assert.deepEqual(problems, ["media_timeout"]);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("media watchdog: steady media keeps the stream; stop and close end the watch", async () => {
  const { clock, socket, stream } = started({ mediaTimeoutMs: 2000 });
  for (let t = 0; t < 30_000; t += 100) {
    for (let f = t; f < t + 100; f += 20) socket.receive(mediaFrame(2 + f / 20, f));
    await clock.advance(100);
  }
  assert.equal(stream.closed, false);
  socket.json({
    event: "stop",
    sequenceNumber: "9999",
    streamSid: SID,
    stop: { accountSid: "AC1", callSid: CALL },
  });
  assert.equal(clock.pendingTimers, 0, "no media is expected after stop");
  await clock.advance(10_000);
  assert.equal(socket.closedWith, undefined);
});
