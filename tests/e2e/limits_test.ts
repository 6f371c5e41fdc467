/** The operator's limits: concurrent calls and call duration. */
import assert from "node:assert/strict";
import { mulawSilence } from "../../src/codec/tones.ts";
import { postVoiceWebhook, voiceWebhookParams } from "../../src/sim/twilio_caller.ts";
import { startHarness, waitUntil, within } from "../support/harness.ts";

Deno.test("limits: past MAX_CALLS a new caller gets the polite busy answer", async () => {
  await using h = await startHarness({ env: { MAX_CALLS: "1" } });
  const first = await h.dial({ audio: mulawSilence(200) });
  await waitUntil(() => h.app.calls.activeCount === 1, 5000, "first call active");
  const target = h.target;
  const second = await postVoiceWebhook(target, voiceWebhookParams(target));
  assert.equal(second.status, 200);
  assert.equal(second.streamUrl, undefined, "no media stream for the second caller");
  assert.match(second.body, /<Say[^>]*>[^<]+<\/Say>/);
  assert.doesNotMatch(second.body, /<Dial>/, "no TRANSFER_NUMBER, so no transfer");
  const metrics = await (await fetch(`${h.app.baseUrl}/metrics`)).text();
  assert.match(metrics, /voice_webhooks_total\{route="voice",result="busy"\} 1/);
  await first.hangUp();
});

Deno.test("limits: at the maximum call duration the agent says goodbye and hangs up", async () => {
  await using h = await startHarness({
    overrides: { callManager: { limits: { maxCallMs: 1500 } } },
    fake: {
      responder: (ctx) =>
        ctx.lastItem?.role === "system" && /time limit/.test(ctx.lastItem.text ?? "")
          ? { audioMs: 600, transcript: "We are out of time, goodbye." }
          : { audioMs: 400, transcript: "Hello." },
    },
  });
  const started = performance.now();
  const caller = await h.dial({ audio: mulawSilence(200) });
  const result = await within(caller.done, 20_000, "the service to end the call");
  const elapsed = performance.now() - started;
  assert.equal(result.closedBy, "server");
  assert.ok(elapsed >= 1500 && elapsed < 6000, `ended after ${elapsed.toFixed(0)} ms`);
  assert.ok(
    h.fake.sessions[0].items.some((i) => i.text === "We are out of time, goodbye."),
    "the goodbye was spoken",
  );
  assert.ok(result.agentAudioMsPlayed >= 980, "and played before the hang-up");
});
