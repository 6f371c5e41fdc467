import assert from "node:assert/strict";
import {
  fakeSid,
  openMediaSocket,
  postVoiceWebhook,
  startMessage,
  TwilioCaller,
  voiceWebhookParams,
} from "../../src/sim/twilio_caller.ts";
import { startTwilioTestServer } from "../support/twilio_test_server.ts";
import { opened, waitUntil, within } from "../support/wait.ts";

/** Small deterministic PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One malformed or random frame; `streamSid` makes some of them nearly valid. Before the
 * start, start-like garbage is left out: an invalid `start` rightly closes the stream. So
 * are binary and oversized frames, which end a stream at once (see stream_bounds_test.ts)
 * and are sent last.
 */
function garbage(
  rand: () => number,
  streamSid: string,
  i: number,
  preStart = false,
): string | Uint8Array {
  let pick = Math.floor(rand() * 14);
  if (preStart && (pick === 3 || pick === 8)) pick = 1;
  if (pick === 0 || pick === 7) pick = 1;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  const media = (m: Record<string, unknown>) =>
    JSON.stringify({ event: "media", sequenceNumber: String(i), streamSid, media: m });
  switch (pick) {
    case 1:
      return new TextDecoder().decode(bytes(1 + Math.floor(rand() * 200))); // random text
    case 2:
      return '{"event":"media","streamSid":"' + streamSid; // truncated JSON
    case 3:
      return JSON.stringify({
        event: ["media", "start", "stop", "mark", "dtmf", "x", 3, null][i % 8],
      });
    case 4:
      return media({ track: "inbound", chunk: "1", timestamp: String(i * 20), payload: "!!" + i });
    case 5:
      return media({ track: "inbound", chunk: 1, timestamp: i * 20, payload: "AAAA" });
    case 6:
      return JSON.stringify({
        event: "media",
        streamSid: fakeSid("MZ"),
        media: { track: "inbound", chunk: "1", timestamp: "0", payload: "AAAA" },
      });
    case 8:
      return JSON.stringify({
        event: "start",
        sequenceNumber: "1",
        streamSid,
        start: { callSid: 5 },
      });
    case 9:
      return JSON.stringify({
        event: "dtmf",
        streamSid,
        sequenceNumber: "2",
        dtmf: { digit: "xx" },
      });
    case 10:
      return JSON.stringify([1, 2, { event: "media" }]);
    case 11:
      return media({ track: "inbound", chunk: "1", timestamp: "1e400", payload: "AAAA" });
    case 12:
      return JSON.stringify({ event: "mark", streamSid, sequenceNumber: "3", mark: {} });
    default: // occasionally a valid frame with a plausible timestamp
      return media({
        track: "inbound",
        chunk: String(i),
        timestamp: String(i * 20),
        payload: bytes(160).toBase64(),
      });
  }
}

Deno.test("fuzz: thousands of bad frames on one stream never disturb another call", async () => {
  // A rate limit high enough for thousands of frames a second: the bad frames are the test.
  const app = startTwilioTestServer({
    routeDeps: { streamOptions: { rateLimit: { perSecond: 1e6, burst: 1e6 } } },
  });
  const seed = Date.now() & 0xffff;
  const rand = prng(seed);

  // The good call: 2 s of real-time audio, every frame echoed back.
  const speech = Uint8Array.from({ length: 16_000 }, (_, i) => (i * 7) & 0xff);
  const good = await TwilioCaller.dial({ ...app.callerOptions, audio: speech });

  // The abusive stream: a properly signed socket with a valid call token, then garbage.
  const params = voiceWebhookParams(app.callerOptions);
  const answer = await postVoiceWebhook(app.callerOptions, params);
  const bad = openMediaSocket(app.callerOptions, answer.streamUrl!);
  const badClosed = new Promise<CloseEvent>((resolve) => bad.onclose = resolve);
  bad.onmessage = () => {}; // echoes of its valid frames
  await opened(bad);
  const streamSid = fakeSid("MZ");
  // Garbage before start too.
  for (let i = 0; i < 200; i++) bad.send(garbage(rand, streamSid, i, true));
  bad.send(JSON.stringify(startMessage({
    accountSid: params.AccountSid,
    streamSid,
    callSid: params.CallSid,
    customParameters: answer.parameters,
  })));
  let sentBad = 200;
  while (good.pendingAudioMs > 0) {
    for (let k = 0; k < 100; k++) bad.send(garbage(rand, streamSid, sentBad++));
    await new Promise((r) => setTimeout(r, 5));
  }
  await waitUntil(
    () => good.receivedAudio().length >= speech.length,
    5000,
    `seed ${seed}: the good speech echoed`,
    () => `${good.receivedAudio().length} of ${speech.length} bytes`,
  );
  const result = await good.hangUp();
  bad.send(Uint8Array.from({ length: 400 }, () => Math.floor(rand() * 256))); // ends it
  const badEnd = await within(badClosed, 5000, "the binary frame to end the stream");

  // The server is still up and answering.
  const health = await postVoiceWebhook(app.callerOptions);
  assert.equal(health.status, 200, `seed ${seed}`);
  await app.close();

  assert.ok(sentBad >= 5000, `sent ${sentBad} bad frames`);
  assert.equal(result.mediaMessagesReceived, result.framesSent, `seed ${seed}: lost echoes`);
  assert.ok(result.framesSent >= 100);
  assert.deepEqual(caller0(good.receivedAudio(), speech.length), speech);
  const goodStream = app.streams.find((s) => s.start.callSid === good.callSid)!;
  assert.deepEqual(goodStream.stream.counters.dropped, {}, "the good stream dropped nothing");
  const badStream = app.streams.find((s) => s.start.callSid === params.CallSid);
  assert.ok(badStream, "the abusive stream was accepted (valid signature and token)");
  const dropped = Object.values(badStream.stream.counters.dropped).reduce((a, b) => a + b, 0);
  assert.ok(dropped > 4000, `bad stream dropped ${dropped}`);
  assert.equal(badStream.stream.counters.endedBy, "binary_frame");
  assert.equal(badEnd.code, 1003, "a binary frame ends the stream");
});

function caller0(received: Uint8Array, n: number): Uint8Array {
  return received.subarray(0, n);
}
