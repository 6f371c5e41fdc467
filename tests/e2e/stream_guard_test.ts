/**
 * One call, one media stream: a second stream for a live call (a replayed `start`, with
 * the call's own valid token) is refused, and the call it tried to join carries on.
 */
import assert from "node:assert/strict";
import { fakeSid, openMediaSocket, startMessage } from "../../src/sim/twilio_caller.ts";
import { silence, startHarness, waitUntil, within } from "../support/harness.ts";
import { opened } from "../support/wait.ts";

Deno.test("e2e: a duplicate media stream for a live call is refused; the call carries on", async () => {
  await using h = await startHarness({
    fake: { responder: () => ({ audioMs: 1500, transcript: "Hello, Maple and Main." }) },
  });
  const caller = await h.dial({ audio: silence(200) });
  await waitUntil(() => caller.agentAudioMsPlayed >= 200, 5000, "the greeting playing");

  const second = openMediaSocket(h.target, caller.answer.streamUrl!);
  const closed = new Promise<CloseEvent>((resolve) => second.onclose = resolve);
  second.onmessage = () => {};
  await opened(second);
  second.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
  second.send(JSON.stringify(startMessage({
    accountSid: caller.accountSid,
    streamSid: fakeSid("MZ"),
    callSid: caller.callSid,
    customParameters: caller.answer.parameters,
  })));
  const refused = await within(closed, 5000, "the service to refuse the second stream");
  assert.equal(refused.code, 1008, refused.reason);

  // The first call is untouched: its greeting plays on, one model session, one call.
  await waitUntil(() => caller.agentAudioMsPlayed >= 1500, 10_000, "the greeting played");
  assert.equal(h.app.calls.activeCount, 1);
  assert.equal(h.fake.sessions.length, 1);
  const result = await caller.hangUp();
  assert.equal(result.closedBy, "caller");
  assert.deepEqual(result.events.filter((e) => e.type === "violation"), []);
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "caller_hung_up");
});
