import assert from "node:assert/strict";
import { TwilioCaller } from "../../src/sim/twilio_caller.ts";
import { startTwilioTestServer } from "../support/twilio_test_server.ts";

Deno.test("a simulated call streams audio in real time and gets every frame echoed", async () => {
  const app = startTwilioTestServer();
  const speech = new Uint8Array(8000).map((_, i) => i % 256); // 1 s of audio
  const caller = await TwilioCaller.dial({ ...app.callerOptions, audio: speech });
  while (caller.pendingAudioMs > 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  const result = await caller.hangUp();
  await app.close();
  assert.equal(app.streams.length, 1);
  assert.equal(app.streams[0].start.callSid, caller.callSid);
  assert.ok(result.framesSent >= 50, `sent ${result.framesSent}`);
  assert.equal(result.mediaMessagesReceived, result.framesSent);
  assert.deepEqual(caller.receivedAudio().subarray(0, 8000), speech);
  assert.equal(result.closedBy, "caller");
  assert.equal(app.streams[0].stream.counters.silenceFramesFilled, 0);
  assert.deepEqual(result.events.filter((e) => e.type === "violation"), []);
});
