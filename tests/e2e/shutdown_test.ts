/**
 * Graceful shutdown as an operator sees it: new calls get the polite busy answer, the
 * active call is allowed to finish, then wrapped up with a goodbye, and the service stops.
 */
import assert from "node:assert/strict";
import { mulawSilence } from "../../src/codec/tones.ts";
import { postVoiceWebhook, voiceWebhookParams } from "../../src/sim/twilio_caller.ts";
import { startHarness, waitUntil, within } from "../support/harness.ts";

Deno.test("e2e: shutdown drains an active call: busy answer for new calls, goodbye, then stop", async () => {
  await using h = await startHarness({
    env: { DRAIN_SECONDS: "2", TRANSFER_NUMBER: "+15557770000" },
    fake: {
      responder: (ctx) =>
        ctx.lastItem?.role === "system" && /goodbye/.test(ctx.lastItem.text ?? "")
          ? { audioMs: 800, transcript: "Sorry, we have to end the call now. Goodbye." }
          : { audioMs: 500, transcript: "Hello, Maple and Main." },
    },
  });
  let stopped = false;
  const caller = await h.dial({ audio: mulawSilence(200) });
  await waitUntil(() => caller.agentAudioMsPlayed >= 500, 5000, "greeting played");
  const stopping = h.app.stop().then(() => (stopped = true));

  // While draining: not ready, and a new call gets the busy TwiML, not a stream.
  await waitUntil(
    async () =>
      (await fetch(`${h.app.baseUrl}/readyz`).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      })) === 503,
    2000,
    "readyz 503",
  );
  const options = h.target;
  const busy = await postVoiceWebhook(options, voiceWebhookParams(options));
  assert.equal(busy.status, 200);
  assert.equal(busy.streamUrl, undefined);
  assert.match(busy.body, /<Say[^>]*>[^<]+<\/Say>/);
  assert.match(busy.body, /<Dial>\+15557770000<\/Dial>/);

  // The active call keeps going during the drain window...
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(stopped, false);
  assert.equal(h.app.calls.activeCount, 1);
  // ...then is wrapped up politely, and only then does the service stop.
  const result = await within(caller.done, 20_000, "the service to end the call");
  assert.equal(result.closedBy, "server");
  const texts = h.fake.sessions[0].items.map((i) => i.text ?? "");
  assert.ok(texts.includes("Sorry, we have to end the call now. Goodbye."), texts.join(" | "));
  assert.ok(result.agentAudioMsPlayed >= 1280, "the goodbye played");
  await stopping;
  assert.equal(h.app.calls.activeCount, 0);
});
