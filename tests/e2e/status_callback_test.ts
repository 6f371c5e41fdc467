/** Twilio status callbacks for calls that never reached the media stream. */
import assert from "node:assert/strict";
import { postSignedForm } from "../../src/sim/twilio_caller.ts";
import { startHarness } from "../support/harness.ts";

Deno.test("status callback: a call that was never connected still gets a record", async () => {
  await using h = await startHarness();
  const target = h.target;
  const res = await postSignedForm(target, "/twilio/status", {
    CallSid: "CA00000000000000000000000000000001",
    CallStatus: "no-answer",
    From: "+15550001111",
    To: "+15559990000",
  });
  assert.equal(res.status, 204);
  const record = await h.recordWhen("CA00000000000000000000000000000001", () => true);
  assert.equal(record.outcome, "not_connected_no-answer");
  assert.equal(record.from, "+15550001111");

  // A stream error for it is recorded too, and counted.
  const err = await postSignedForm(target, "/twilio/stream-status", {
    CallSid: "CA00000000000000000000000000000001",
    StreamSid: "MZ00000000000000000000000000000001",
    StreamEvent: "stream-error",
    StreamError: "Stream - WebSocket - Connection Refused",
  });
  assert.equal(err.status, 204);
  await h.recordWhen(
    "CA00000000000000000000000000000001",
    (r) => r.extra?.streamError !== undefined,
  );
  const metrics = await (await fetch(`${h.app.baseUrl}/metrics`)).text();
  assert.match(metrics, /voice_protocol_errors_total\{side="twilio",reason="stream_error"\} 1/);

  // Unsigned callbacks are refused.
  const forged = await fetch(`${h.app.baseUrl}/twilio/status`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "CallSid=CA1&CallStatus=completed",
  });
  assert.equal(forged.status, 403);
  await forged.body?.cancel();
});
