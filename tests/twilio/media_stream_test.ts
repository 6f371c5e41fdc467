import assert from "node:assert/strict";
import { type StreamListener, TwilioStream } from "../../src/twilio/media_stream.ts";
import { FakeSocket } from "../support/stream_socket.ts";
import {
  buildClearMessage,
  buildMarkMessage,
  buildMediaMessage,
  OutboundMessageSchema,
} from "../../src/twilio/protocol.ts";
import { startMessage } from "../../src/sim/twilio_caller.ts";
import { VirtualClock } from "../support/virtual_clock.ts";

const SID = "MZ" + "0123456789abcdef".repeat(2);
const CALL = "CA" + "f".repeat(32);

function startMsg(customParameters: Record<string, string> = { from: "+15557654321" }) {
  return startMessage({
    accountSid: "AC" + "0".repeat(32),
    streamSid: SID,
    callSid: CALL,
    customParameters,
  });
}

function mediaMsg(seq: number, timestamp: number, bytes: Uint8Array, streamSid = SID) {
  return {
    event: "media",
    sequenceNumber: String(seq),
    streamSid,
    media: {
      track: "inbound",
      chunk: String(seq - 1),
      timestamp: String(timestamp),
      payload: bytes.toBase64(),
    },
  };
}

/** A listener recording what the stream delivers; `media` may be replaced before start. */
function recorder() {
  const media: { bytes: Uint8Array; ts: number }[] = [];
  const events: string[] = [];
  const listener: { -readonly [K in keyof StreamListener]: StreamListener[K] } = {
    media: (mulawBase64, ts) => media.push({ bytes: Uint8Array.fromBase64(mulawBase64), ts }),
    dtmf: (d) => events.push(`dtmf ${d}`),
    mark: (n) => events.push(`mark ${n}`),
    stop: () => events.push("stop"),
    close: (code) => events.push(`close ${code}`),
  };
  return { media, events, listener };
}

/** A stream whose recorder attaches as soon as `start` arrives (time stands still by default). */
function setup(options: ConstructorParameters<typeof TwilioStream>[1] = {}) {
  const socket = new FakeSocket();
  const stream = new TwilioStream(socket, { clock: new VirtualClock(), ...options });
  const { media, events, listener } = recorder();
  stream.on("start", (s) => {
    events.push(`start ${s.callSid} ${s.from}`);
    stream.attach(listener);
  });
  return { socket, stream, media, events, listener };
}

Deno.test("TwilioStream: start, media, dtmf, mark, stop become typed events", () => {
  const { socket, stream, media, events } = setup();
  socket.json({ event: "connected", protocol: "Call", version: "1.0.0" });
  socket.json(startMsg());
  socket.json(mediaMsg(2, 0, new Uint8Array(160).fill(1)));
  socket.json(mediaMsg(3, 20, new Uint8Array(160).fill(2)));
  socket.json({
    event: "dtmf",
    streamSid: SID,
    sequenceNumber: "4",
    dtmf: { track: "inbound_track", digit: "5" },
  });
  socket.json({ event: "mark", sequenceNumber: "5", streamSid: SID, mark: { name: "m1" } });
  socket.json({
    event: "stop",
    sequenceNumber: "6",
    streamSid: SID,
    stop: { accountSid: "AC1", callSid: CALL },
  });
  socket.json(mediaMsg(7, 40, new Uint8Array(160)));
  assert.deepEqual(events, [`start ${CALL} +15557654321`, "dtmf 5", "mark m1", "stop"]);
  assert.deepEqual(media.map((m) => [m.ts, m.bytes[0], m.bytes.length]), [[0, 1, 160], [
    20,
    2,
    160,
  ]]);
  assert.equal(stream.streamSid, SID);
  assert.deepEqual(stream.counters.dropped, { after_stop: 1 });
  assert.equal(socket.binaryType, "arraybuffer");
});

Deno.test("TwilioStream: timestamp gaps are filled with mu-law silence", () => {
  const { socket, stream, media } = setup();
  socket.json(startMsg());
  socket.json(mediaMsg(2, 100, new Uint8Array(160).fill(7)));
  socket.json(mediaMsg(3, 180, new Uint8Array(160).fill(8))); // 60 ms missing
  socket.json(mediaMsg(4, 205, new Uint8Array(160).fill(9))); // 5 ms missing
  socket.json(mediaMsg(5, 225, new Uint8Array(160).fill(10))); // on time
  assert.deepEqual(
    media.map((m) => [m.ts, m.bytes.length, m.bytes[0]]),
    [
      [100, 160, 7],
      [120, 160, 255],
      [140, 160, 255],
      [160, 160, 255],
      [180, 160, 8],
      [200, 40, 255],
      [205, 160, 9],
      [225, 160, 10],
    ],
  );
  assert.equal(stream.counters.silenceFramesFilled, 4);
  const total = media.reduce((n, m) => n + m.bytes.length, 0);
  assert.equal(total, (245 - 100) * 8, "delivered audio spans exactly the caller's media time");
});

Deno.test("TwilioStream: huge timestamp jumps fill at most maxGapFillMs", async () => {
  const clock = new VirtualClock();
  const { socket, listener } = setup({ maxGapFillMs: 1000, clock, mediaTimeoutMs: 0 });
  let bytes = 0;
  listener.media = (m) => bytes += Uint8Array.fromBase64(m).length;
  socket.json(startMsg());
  socket.json(mediaMsg(2, 0, new Uint8Array(160)));
  await clock.advance(100_000); // a real 100 s gap (the media time stays behind the clock)
  socket.json(mediaMsg(3, 99_000, new Uint8Array(160)));
  assert.equal(bytes, 160 + 1000 * 8 + 160);
});

Deno.test("TwilioStream: every kind of bad frame is counted and dropped, never thrown", () => {
  const { socket, stream, media } = setup();
  socket.json(mediaMsg(1, 0, new Uint8Array(160))); // before start
  socket.receive("{not json");
  socket.receive("42");
  socket.receive("null");
  socket.json({ event: "bogus" });
  socket.json({ noEvent: true });
  socket.json(startMsg());
  socket.json(startMsg()); // duplicate
  socket.json(mediaMsg(2, 0, new Uint8Array(160), "MZ" + "9".repeat(32))); // wrong streamSid
  socket.json({
    ...mediaMsg(3, 0, new Uint8Array(160)),
    media: { track: "inbound", chunk: "1", timestamp: "0", payload: "@@not base64@@" },
  });
  socket.json({
    ...mediaMsg(4, 0, new Uint8Array(160)),
    media: { track: "outbound", chunk: "1", timestamp: "0", payload: "AAAA" },
  });
  socket.json({
    ...mediaMsg(5, 0, new Uint8Array(160)),
    media: { track: "inbound", chunk: "1", timestamp: 0, payload: "AAAA" },
  });
  socket.json({
    ...mediaMsg(6, 0, new Uint8Array(160)),
    media: { track: "inbound", chunk: "1", timestamp: "-5", payload: "AAAA" },
  });
  socket.json({ ...mediaMsg(7, 0, new Uint8Array(160)), media: null });
  socket.json({ event: "dtmf", streamSid: SID, sequenceNumber: "8", dtmf: { digit: 5 } });
  assert.deepEqual(stream.counters.dropped, {
    media_before_start: 1,
    invalid_json: 3,
    unknown_event: 2,
    duplicate_start: 1,
    wrong_stream_sid: 1,
    invalid_base64: 1,
    wrong_track: 1,
    invalid_message: 4,
  });
  assert.equal(media.length, 0);
  assert.equal(socket.closedWith, undefined, "the stream survives all of it");
  socket.json(mediaMsg(10, 0, new Uint8Array(160).fill(3)));
  assert.equal(media.length, 1);
});

Deno.test("TwilioStream: an invalid start closes the socket with a reason", () => {
  const { socket, events } = setup();
  const bad = startMsg();
  bad.start.callSid = "";
  socket.json(bad);
  assert.deepEqual(socket.closedWith, { code: 1008, reason: "invalid start message" });
  assert.deepEqual(events, [], "no start event");
  const { socket: s2 } = setup();
  const badSid = { ...startMsg(), streamSid: 'MZ"injected' };
  badSid.start.streamSid = badSid.streamSid;
  s2.json(badSid);
  assert.equal(s2.closedWith?.reason, "invalid streamSid in start message");
});

Deno.test("TwilioStream: a throwing handler is contained", () => {
  const { socket, stream, listener } = setup();
  listener.media = () => {
    throw new Error("consumer bug");
  };
  socket.json(startMsg());
  socket.json(mediaMsg(2, 0, new Uint8Array(160)));
  socket.json(mediaMsg(3, 20, new Uint8Array(160)));
  assert.equal(stream.counters.dropped.handler_error, 2);
});

Deno.test("TwilioStream: frames after start are held until a listener attaches", () => {
  const socket = new FakeSocket();
  const stream = new TwilioStream(socket, { maxHeld: 3, clock: new VirtualClock() });
  const { media, listener } = recorder();
  socket.json(startMsg());
  for (let i = 0; i < 4; i++) socket.json(mediaMsg(2 + i, i * 20, new Uint8Array(160)));
  assert.equal(media.length, 0, "nothing is delivered before attach");
  stream.attach(listener);
  assert.deepEqual(media.map((m) => m.ts), [0, 20, 40]);
  assert.equal(stream.counters.dropped.hold_overflow, 1);
  socket.json(mediaMsg(9, 80, new Uint8Array(160)));
  assert.deepEqual(media.map((m) => m.ts), [0, 20, 40, 60, 80], "the overflow became silence");
  assert.throws(() => stream.attach(listener), /already has a listener/);
});

Deno.test("TwilioStream: a stop and close before attach reach the listener, in order", () => {
  const socket = new FakeSocket();
  const stream = new TwilioStream(socket, { clock: new VirtualClock() });
  const { events, listener } = recorder();
  let lifecycleClose = 0;
  stream.on("close", () => lifecycleClose++);
  socket.json(startMsg());
  socket.json(mediaMsg(2, 0, new Uint8Array(160)));
  socket.json({
    event: "stop",
    sequenceNumber: "3",
    streamSid: SID,
    stop: { accountSid: "AC1", callSid: CALL },
  });
  socket.onclose?.(new CloseEvent("close", { code: 1000, reason: "" }));
  assert.equal(stream.closed, true);
  assert.equal(lifecycleClose, 1);
  stream.attach(listener);
  assert.deepEqual(events, ["stop", "close 1000"], "the late consumer sees the hang-up");
});

Deno.test("TwilioStream: outbound messages carry exactly Twilio's fields", () => {
  const { socket, stream } = setup();
  assert.equal(stream.sendAudio(new Uint8Array([1])), false, "nothing goes out before start");
  socket.json(startMsg());
  assert.equal(stream.sendAudio(new Uint8Array([0xff, 0x7f, 0x00])), true);
  stream.sendAudioBase64("AAEC");
  stream.mark('item_1:"420"');
  stream.clear();
  const parsed = socket.sent.map((s) => OutboundMessageSchema.parse(JSON.parse(s)));
  assert.deepEqual(parsed, [
    { event: "media", streamSid: SID, media: { payload: "/38A" } },
    { event: "media", streamSid: SID, media: { payload: "AAEC" } },
    { event: "mark", streamSid: SID, mark: { name: 'item_1:"420"' } },
    { event: "clear", streamSid: SID },
  ]);
  assert.equal(stream.counters.framesOut, 4);
  assert.equal(stream.counters.outDropped, 1);
  assert.deepEqual(JSON.parse(buildMediaMessage(SID, "QQ==")), {
    event: "media",
    streamSid: SID,
    media: { payload: "QQ==" },
  });
  assert.equal(
    buildMarkMessage(SID, "a"),
    `{"event":"mark","streamSid":"${SID}","mark":{"name":"a"}}`,
  );
  assert.equal(buildClearMessage(SID), `{"event":"clear","streamSid":"${SID}"}`);
  for (
    const name of ["", "a12", "item_1.x-2:3", "a\\b", 'a"b', "é", "line\nbreak", "\u2028", "a b"]
  ) {
    assert.deepEqual(
      OutboundMessageSchema.parse(JSON.parse(buildMarkMessage(SID, name))),
      { event: "mark", streamSid: SID, mark: { name } },
      name,
    );
  }
  stream.close(1000, "done");
  assert.equal(stream.sendAudio(new Uint8Array([1])), false);
});

Deno.test("TwilioStream: payloads pass through as base64; looser base64 is re-encoded, not dropped", async () => {
  const clock = new VirtualClock();
  const { socket, stream, listener } = setup({ clock, mediaTimeoutMs: 0 });
  const got: string[] = [];
  listener.media = (b64) => got.push(b64);
  socket.json(startMsg());
  await clock.advance(1000);
  const frame = new Uint8Array(160).map((_, i) => i * 3);
  const strict = frame.toBase64();
  const message = (seq: number, ts: number, payload: string) => ({
    ...mediaMsg(seq, ts, frame),
    media: { track: "inbound", chunk: String(seq), timestamp: String(ts), payload },
  });
  socket.json(message(2, 0, strict)); // as Twilio sends it (scanned)
  socket.receive(JSON.stringify(message(3, 20, strict)).replace(",", ", ")); // parsed in full
  socket.json(message(4, 40, strict.replace(/=+$/, ""))); // unpadded: decodes
  socket.json(message(5, 60, strict.slice(0, 100) + "\n" + strict.slice(100))); // whitespace
  socket.json(message(6, 80, strict.replaceAll("/", "_"))); // URL-safe alphabet: not base64
  socket.json(message(7, 80, strict.slice(0, 100) + '"' + strict.slice(101)));
  assert.equal(got.length, 4);
  assert.equal(got[0], strict, "the payload itself is handed on");
  assert.equal(got[1], strict);
  for (const b64 of got) assert.deepEqual(Uint8Array.fromBase64(b64), frame);
  assert.equal(got[2], strict, "re-encoded strictly");
  assert.equal(got[3], strict);
  assert.deepEqual(stream.counters.dropped, { invalid_base64: 2 });
});
