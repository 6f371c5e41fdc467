/**
 * The call recording in virtual time, fed by a real Call (the tap) over in-memory fakes:
 * the agent channel holds what the caller heard (cut where the truncation says on a
 * barge-in), the caller channel what Twilio sent at its timestamps, both as long as the
 * call; the file is the service user's only; memory stays bounded on a long call; a
 * recording that cannot be written never hurts the call.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Call } from "../../src/call/call.ts";
import { PassThroughAudioPath } from "../../src/call/audio_path.ts";
import { ToolRegistry } from "../../src/agent/tools.ts";
import { logger } from "../../src/log.ts";
import { decodeMulaw, MULAW_SILENCE } from "../../src/codec/mulaw.ts";
import { CallRecording, recordingPath } from "../../src/recording/call_recording.ts";
import { VirtualClock } from "../support/virtual_clock.ts";
import { FakeCallerStream, FakeModelSession } from "../call/fakes.ts";
import { findOffset, readStereoWav, soundSpans } from "../support/audio_match.ts";

const FIXTURE = Deno.readFileSync(
  new URL("../fixtures/caller_repeat_that_8k_mulaw.raw", import.meta.url),
);
const SILENCE = new Uint8Array(160).fill(MULAW_SILENCE);

function recordedCall(dir: string) {
  const clock = new VirtualClock();
  const stream = new FakeCallerStream(clock);
  const session = new FakeModelSession(clock, "open");
  const path = recordingPath(dir, "CA0001", clock.wallNow());
  const recording = CallRecording.start({ path, origin: 0, clock, log: logger("test", "rec") });
  const call = new Call({
    callSid: "CA0001",
    from: "+15550001111",
    to: "+15559990000",
    stream,
    session,
    audio: new PassThroughAudioPath(),
    tools: new ToolRegistry([], clock),
    records: { saveCall: () => Promise.resolve() },
    greeting: "Hello.",
    limits: {
      idleCheckinMs: 60_000,
      idleHangupMs: 120_000,
      maxCallMs: 1_800_000,
      modelReadyMs: 2500,
      slowToolMs: 1000,
    },
    prompts: { apology: new Uint8Array(8000).fill(0x33), hold: new Uint8Array(1600).fill(0x44) },
    log: logger("test", "call"),
    clock,
    tap: recording,
  });
  return { clock, stream, session, recording, call, path };
}

/**
 * Twilio's frames from the clock's now on, timestamped from the stream's start (clock 0),
 * each delivered once its 20 ms have passed (`framesPerStep` at a time).
 */
async function callerSends(
  c: { clock: VirtualClock; stream: FakeCallerStream },
  mulaw: Uint8Array,
  framesPerStep = 1,
) {
  for (let at = 0; at < mulaw.length; at += 160 * framesPerStep) {
    const chunk = mulaw.subarray(at, at + 160 * framesPerStep);
    const from = c.clock.now();
    await c.clock.advance((chunk.length / 160) * 20);
    c.stream.sayAudio(chunk, from);
  }
}

const silence = (ms: number) => new Uint8Array(ms * 8).fill(MULAW_SILENCE);

Deno.test("recording: a barge-in call: the agent channel ends where the truncation says, the caller's speech sits at its timestamps, both as long as the call", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = recordedCall(dir);
    c.call.start();
    const greeting = c.session.startResponse();
    await c.session.speak(greeting, 3000, "A long greeting."); // sent at once, plays 0..3000
    await callerSends(c, silence(1400));
    await callerSends(c, FIXTURE.subarray(0, 800)); // 100 ms of speech, then the VAD fires
    c.session.speechStarted();
    c.session.finishResponse(greeting, "cancelled");
    const [truncation] = c.session.truncations;
    assert.ok(Math.abs(truncation.ms - 1500) <= 20, `truncated at ${truncation.ms} ms`);
    await callerSends(c, FIXTURE.subarray(800));
    c.session.speechStopped("Can you repeat that?");
    const answerAt = c.clock.now();
    await c.session.reply(1000, "Of course.");
    await callerSends(c, silence(8000 - c.clock.now()));
    c.stream.hangUp();
    await c.call.done;
    const info = await c.recording.finished;

    assert.equal(info.error, undefined);
    assert.equal(info.durationMs, 8000);
    const { mode } = await Deno.stat(c.path);
    assert.equal(mode! & 0o777, 0o600, "only the service user may read it");
    assert.equal((await Deno.stat(join(c.path, ".."))).mode! & 0o777, 0o700);
    const wav = readStereoWav(await Deno.readFile(c.path));
    assert.equal(wav.sampleRate, 8000);
    // Both channels are as long as the call (the file says so in its header too).
    assert.ok(Math.abs(wav.left.length / 8 - 8000) <= 40, `${wav.left.length / 8} ms`);
    assert.equal(wav.right.length, wav.left.length);

    // Agent: the greeting from 0 to where the caller stopped hearing it (one frame at most
    // off), nothing of its unheard rest, then the answer, whole, from when it was sent.
    const spans = soundSpans(wav.right, 8 * 100);
    assert.equal(spans.length, 2, JSON.stringify(spans));
    assert.equal(spans[0].start, 0);
    assert.ok(
      Math.abs(spans[0].end - truncation.ms * 8) <= 160,
      `agent channel ends at ${spans[0].end / 8} ms, truncation says ${truncation.ms} ms`,
    );
    assert.equal(spans[1].start, answerAt * 8);
    assert.equal(spans[1].end - spans[1].start, 1000 * 8);

    // Caller: exactly what Twilio sent, at its timestamps.
    const fixture = decodeMulaw(FIXTURE);
    const found = findOffset(wav.left, fixture);
    assert.equal(found.offset, 1400 * 8, `caller speech found at ${found.offset / 8} ms`);
    assert.ok(found.score > 0.999, `correlation ${found.score}`);
    assert.deepEqual(wav.left.subarray(1400 * 8, 1400 * 8 + fixture.length), fixture);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording: memory stays bounded on a long call while the file grows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = recordedCall(dir);
    c.call.start();
    let maxHeld = 0;
    const talkMs = 180_000;
    for (let t = 0; t < talkMs; t += 10_000) {
      // Every 10 s the agent says 4 s, sent at once (faster than real time, like the model).
      await c.session.reply(4000, "Something.");
      for (let k = 0; k < 50; k++) {
        await callerSends(c, silence(200), 10);
        maxHeld = Math.max(maxHeld, c.recording.heldBytes);
      }
    }
    c.stream.hangUp();
    await c.call.done;
    const info = await c.recording.finished;
    assert.equal(info.durationMs, talkMs);
    assert.equal((await Deno.stat(c.path)).size, 44 + talkMs * 8 * 4);
    // Caller window (7 s) + at most one answer held + writes in flight: far below the call.
    assert.ok(maxHeld < 250_000, `held ${maxHeld} bytes`);
    const wav = readStereoWav(await Deno.readFile(c.path));
    const spans = soundSpans(wav.right, 8 * 100);
    assert.equal(spans.length, 18);
    assert.ok(spans.every((s) => s.end - s.start === 4000 * 8));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording: a clear after the audio was written cannot take it back, and says how much", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = new VirtualClock();
    const path = join(dir, "CA2.wav");
    const rec = CallRecording.start({ path, origin: 0, clock, log: logger("test", "rec") });
    rec.agentAudio(new Uint8Array(10_000 * 8).fill(0x55), "item_1", 0);
    await clock.advance(5000); // written up to 3 s (2 s held)
    rec.agentCleared([{ itemId: "item_1", audioEndMs: 1000 }], 5000);
    rec.ended(6000);
    const info = await rec.finished;
    assert.equal(info.lateCutMs, 2000);
    const wav = readStereoWav(await Deno.readFile(path));
    assert.deepEqual(soundSpans(wav.right, 800), [{ start: 0, end: 3000 * 8 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording: sample 0 is the stream's start even when the service saw it late (Twilio's timestamps say when)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = new VirtualClock();
    await clock.advance(1000); // the stream really started at 1000
    const path = join(dir, "CA3.wav");
    // The start was processed 60 ms late (signature and token checks, a busy loop).
    await clock.advance(60);
    const rec = CallRecording.start({ path, origin: 1060, clock, log: logger("test", "rec") });
    const frame = new Uint8Array(160).fill(0x10);
    rec.callerAudio(frame, 0); // frames held meanwhile say little: they arrive late
    rec.callerAudio(frame, 20);
    for (let ts = 40; ts < 2980; ts += 20) {
      await clock.advance(1000 + ts + 25 - clock.now()); // frame [ts, ts+20) arrives 5 ms after it ends
      rec.callerAudio(frame, ts);
      if (ts === 1500) rec.callerAudio(frame, 900_000); // one far ahead cannot move it far
    }
    await clock.advance(4000 - clock.now());
    rec.ended(4000);
    const info = await rec.finished;
    const wallAt = (ms: number) => new Date(clock.wallNow() - clock.now() + ms).toISOString();
    assert.equal(info.startedAt, wallAt(1005), "the real start, give or take the network's 5 ms");
    assert.equal(info.durationMs, 2995);
    assert.equal(info.droppedMs, 20, "the frame from the future was dropped, not padded up to");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording: a recording that cannot be created is noted, and the call goes on", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "not-a-dir"), "x");
    const c = recordedCall(join(dir, "not-a-dir"));
    c.call.start();
    await c.session.reply(500, "Hello.");
    c.stream.sayAudio(SILENCE, 0);
    await c.clock.advance(1000);
    c.stream.hangUp();
    const record = await c.call.done;
    assert.equal(record.outcome, "caller_hung_up");
    const info = await c.recording.finished;
    assert.match(info.error ?? "", /cannot create the recording/);
    assert.equal(info.durationMs, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording: paths are per day and CallSid, and a CallSid cannot leave the directory", () => {
  assert.equal(
    recordingPath("/var/rec", "CA123", Date.UTC(2026, 10, 27, 23, 0)),
    "/var/rec/2026-11-27/CA123.wav",
  );
  assert.throws(() => recordingPath("/var/rec", "../etc/passwd", 0), RangeError);
});
