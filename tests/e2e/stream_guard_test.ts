/**
 * One call, one media stream: a second stream for a live call (a replayed `start`, with
 * the call's own valid token) is refused, and the call it tried to join carries on.
 */
import assert from "node:assert/strict";
import {
  fakeSid,
  openMediaSocket,
  postVoiceWebhook,
  startMessage,
  voiceWebhookParams,
} from "../../src/sim/twilio_caller.ts";
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

Deno.test("e2e: a started stream that goes silent is ended by the media watchdog", async () => {
  // The media socket is upgraded without Deno's idle timer (idleTimeout: 0): the stream's
  // own watchdog (MEDIA_TIMEOUT_SECONDS) is what ends a stream that stops sending media.
  const h = await startHarness({ env: { MEDIA_TIMEOUT_SECONDS: "1" } });
  try {
    const options = { ...h.target, from: "+15550001111", to: "+15559990000" };
    const params = voiceWebhookParams(options);
    const answer = await postVoiceWebhook(options, params);
    assert.equal(answer.status, 200, answer.body);
    const socket = openMediaSocket(h.target, answer.streamUrl!);
    const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
    socket.onmessage = () => {};
    await opened(socket);
    const startedAt = performance.now();
    socket.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
    socket.send(JSON.stringify(startMessage({
      accountSid: params.AccountSid,
      streamSid: fakeSid("MZ"),
      callSid: params.CallSid,
      customParameters: answer.parameters,
    })));
    // Not a single media frame: the socket stays open and silent.
    const end = await within(closed, 10_000, "the service to end the silent stream");
    const ms = performance.now() - startedAt;
    assert.equal(end.code, 1000, end.reason);
    assert.equal(end.reason, "no media");
    assert.ok(ms >= 900 && ms < 5000, `ended after ${Math.round(ms)} ms`);
    const record = await h.finalRecord(params.CallSid);
    assert.equal(record.outcome, "error");
    assert.equal(record.extra?.endReason, "error");
    assert.equal(
      (record.extra?.streamCounters as { endedBy?: string } | undefined)?.endedBy,
      "media_timeout",
    );
  } finally {
    await h.close();
  }
});
