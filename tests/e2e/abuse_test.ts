/**
 * Issue 20's abuse volumes against the whole service on loopback (real sockets, the fake
 * model counting the audio it is sent): a stream whose timestamps jump 10 s a frame, and
 * a flood of 43,800 valid frames. Neither makes the model hear (and bill) more audio than
 * time has passed plus a second, and a neighbouring call is not disturbed. Also the
 * Twilio-side drops reach `voice_protocol_errors_total`, and on shutdown every media
 * socket gets a close frame (1000).
 */
import assert from "node:assert/strict";
import { mulawSilence } from "../../src/codec/tones.ts";
import {
  fakeSid,
  openMediaSocket,
  postVoiceWebhook,
  startMessage,
  voiceWebhookParams,
} from "../../src/sim/twilio_caller.ts";
import { type Harness, startHarness, waitUntil } from "../support/harness.ts";
import { opened, within } from "../support/wait.ts";

/** A signed stream with a valid token, started; the test sends the frames. */
async function abusiveStream(h: Harness) {
  const params = voiceWebhookParams({ ...h.target, from: "+15550002222" });
  const answer = await postVoiceWebhook(h.target, params);
  const ws = openMediaSocket(h.target, answer.streamUrl!);
  const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
  ws.onmessage = () => {};
  await opened(ws);
  const streamSid = fakeSid("MZ");
  ws.send(JSON.stringify(startMessage({
    accountSid: params.AccountSid,
    streamSid,
    callSid: params.CallSid,
    customParameters: answer.parameters,
  })));
  const payload = mulawSilence(20).toBase64();
  const frame = (seq: number, timestamp: number) =>
    JSON.stringify({
      event: "media",
      sequenceNumber: String(seq),
      streamSid,
      media: { track: "inbound", chunk: String(seq), timestamp: String(timestamp), payload },
    });
  return { ws, closed, frame, callSid: params.CallSid };
}

/** Waits until the fake model's session `index` is open and asked for the greeting. */
async function modelLive(h: Harness, index: number): Promise<void> {
  await waitUntil(
    () => h.fake.sessions[index]?.clientEvents.some((e) => e.type === "response.create") ?? false,
    5000,
    "the model session to be live",
  );
}

/** The fake model's session of a call (matched by the order calls were placed). */
function inputMsOf(h: Harness, index: number): number {
  return h.fake.sessions[index]?.inputMs ?? 0;
}

Deno.test("abuse: 200 frames each 10 s ahead; the model hears no more than time allows", async () => {
  await using h = await startHarness();
  const t0 = performance.now();
  const bad = await abusiveStream(h);
  await modelLive(h, 0);
  for (let i = 0; i < 200; i++) bad.ws.send(bad.frame(i + 2, i * 10_000));
  await new Promise((r) => setTimeout(r, 2000)); // time for the model to take what it got
  const elapsed = performance.now() - t0;
  // Issue 20: 99,501 appends, about 33 minutes of audio.
  assert.ok(
    inputMsOf(h, 0) <= elapsed + 1000,
    `the model heard ${inputMsOf(h, 0)} ms in ${Math.round(elapsed)} ms`,
  );
  bad.ws.close();
  await within(bad.closed, 5000, "the socket to close");
  const record = await h.finalRecord(bad.callSid);
  const counters = record.extra?.streamCounters as { dropped: Record<string, number> };
  assert.ok(counters.dropped.ahead_of_time >= 190, JSON.stringify(counters));
});

Deno.test("abuse: a flood of 43,800 valid frames ends that stream only; a neighbour's call goes on", async () => {
  await using h = await startHarness();
  const good = await h.dial({ audio: mulawSilence(4000) });
  await modelLive(h, 0);
  const t0 = performance.now();
  const bad = await abusiveStream(h);
  await modelLive(h, 1);
  let sent = 0;
  while (sent < 43_800 && bad.ws.readyState === WebSocket.OPEN) {
    for (let k = 0; k < 200 && sent < 43_800; k++, sent++) {
      bad.ws.send(bad.frame(sent + 2, sent * 20));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  // (a client still flooding may not get to read the close frame)
  await within(bad.closed, 10_000, "the flooding socket to be closed");
  const elapsed = performance.now() - t0;
  assert.ok(sent < 43_800, `the stream was ended after ${sent} frames`);
  const record = await h.finalRecord(bad.callSid);
  const counters = record.extra?.streamCounters as { endedBy?: string };
  assert.equal(counters.endedBy, "rate_limited");
  await new Promise((r) => setTimeout(r, 300));
  // Issue 20: 876 s of audio reached the model in under 6 s.
  assert.ok(
    inputMsOf(h, 1) <= elapsed + 1000,
    `the model heard ${inputMsOf(h, 1)} ms in ${Math.round(elapsed)} ms`,
  );
  // The neighbour's audio kept flowing in real time.
  await waitUntil(() => good.pendingAudioMs === 0, 10_000, "the good call's audio sent");
  const result = await good.hangUp();
  assert.equal(result.closedBy, "caller");
  assert.ok(inputMsOf(h, 0) >= 3500, `the good call's model heard ${inputMsOf(h, 0)} ms`);
  const metrics = await (await fetch(`${h.app.baseUrl}/metrics`)).text();
  assert.match(metrics, /voice_protocol_errors_total\{side="twilio",reason="rate_limited"\} 1/);
});

Deno.test("abuse: bad frames on a call are counted in voice_protocol_errors_total", async () => {
  await using h = await startHarness();
  const bad = await abusiveStream(h);
  await waitUntil(() => h.app.calls.activeCount === 1, 5000, "the call");
  bad.ws.send("{not json");
  bad.ws.send(bad.frame(2, 0));
  bad.ws.send(bad.frame(3, 0)); // the same timestamp again
  await waitUntil(
    async () =>
      /reason="out_of_order"/.test(await (await fetch(`${h.app.baseUrl}/metrics`)).text()),
    5000,
    "the metric",
  );
  const metrics = await (await fetch(`${h.app.baseUrl}/metrics`)).text();
  assert.match(metrics, /voice_protocol_errors_total\{side="twilio",reason="invalid_json"\} 1/);
  assert.match(metrics, /voice_protocol_errors_total\{side="twilio",reason="out_of_order"\} 1/);
  bad.ws.close();
  await within(bad.closed, 5000, "the socket to close");
});

Deno.test("shutdown: every media socket gets a close frame (1000), even one still waiting for start", async () => {
  const h = await startHarness({
    env: { DRAIN_SECONDS: "0" },
    overrides: { goodbyeSeconds: 0 },
    // A model that never answers: the goodbye never comes, the call is still up at the end.
    fake: { responder: () => ({ audioMs: 0, transcript: "" }) },
  });
  let closed = false;
  try {
    const caller = await h.dial({ audio: mulawSilence(20_000) });
    await waitUntil(() => h.app.calls.activeCount === 1, 5000, "the call");
    const waiting = openMediaSocket(h.target, "wss://voice.example.com/twilio/media");
    const waitingClosed = new Promise<CloseEvent>((resolve) => waiting.onclose = resolve);
    await opened(waiting);
    await h.app.stop();
    const [call, pending] = await within(
      Promise.all([caller.done, waitingClosed]),
      10_000,
      "both sockets to be closed",
    );
    assert.equal(call.closeCode, 1000, `the call's socket: ${call.closeCode} ${call.closeReason}`);
    assert.equal(pending.code, 1000, `the waiting socket: ${pending.code} ${pending.reason}`);
    closed = true;
  } finally {
    if (!closed) await h.app.stop();
    await h.close();
  }
});
