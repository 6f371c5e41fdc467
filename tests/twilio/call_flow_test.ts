import assert from "node:assert/strict";
import { postSignedForm, TwilioCaller } from "../../src/sim/twilio_caller.ts";
import { startTwilioTestServer } from "../support/twilio_test_server.ts";
import { waitUntil } from "../support/wait.ts";

Deno.test("a simulated call streams audio in real time and gets every frame echoed", async () => {
  const app = startTwilioTestServer();
  const speech = new Uint8Array(8000).map((_, i) => i % 256); // 1 s of audio
  const caller = await TwilioCaller.dial({ ...app.callerOptions, audio: speech });
  await waitUntil(() => caller.pendingAudioMs === 0, 10_000, "the speech sent");
  // Every frame sent before the hang-up is echoed before the server's close: only the
  // speech needs waiting for.
  await waitUntil(
    () => caller.receivedAudio().length >= speech.length,
    5000,
    "the speech echoed",
    () => `${caller.receivedAudio().length} of ${speech.length} bytes`,
  );
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

Deno.test("status callbacks: signed call and stream status are recorded; unsigned are 403", async () => {
  const app = startTwilioTestServer();
  try {
    const callSid = "CA" + "1".repeat(32);
    const base = { AccountSid: "AC" + "0".repeat(32), CallSid: callSid };
    const status = await postSignedForm(app.callerOptions, "/twilio/status", {
      ...base,
      CallStatus: "completed",
      CallDuration: "42",
    });
    assert.equal(status.status, 204);
    const stream = await postSignedForm(app.callerOptions, "/twilio/stream-status", {
      ...base,
      StreamSid: "MZ" + "2".repeat(32),
      StreamEvent: "stream-error",
      StreamError: "Stream - WebSocket - Connection Refused",
      Timestamp: "2026-01-01T00:00:00Z",
    });
    assert.equal(stream.status, 204);
    const unsigned = await fetch(app.baseUrl + "/twilio/status", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ ...base, CallStatus: "completed" }),
    });
    await unsigned.body?.cancel();
    assert.equal(unsigned.status, 403);
    assert.equal(app.statuses.length, 1);
    assert.equal(app.statuses[0].callSid, callSid);
    assert.equal(app.statuses[0].callStatus, "completed");
    assert.equal(app.statuses[0].duration, 42);
    assert.equal(app.streamStatuses.length, 1);
    assert.equal(app.streamStatuses[0].streamEvent, "stream-error");
    assert.equal(app.streamStatuses[0].streamError, "Stream - WebSocket - Connection Refused");
  } finally {
    await app.close();
  }
});
