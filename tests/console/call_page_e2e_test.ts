/**
 * The call page of a real call (the whole service, the fake Twilio caller with real speech,
 * the strict fake model): the caller talks over the greeting, presses 9, and is transferred.
 * The console's timeline shows the barge-in with the words the caller had heard, the key
 * press, the transfer tool call and the transfer, and the call list finds it as transferred.
 */
import assert from "node:assert/strict";
import type { Responder } from "../../scripts/sim/fake_realtime.ts";
import { speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";
import { signIn } from "./client.ts";
import { CONSOLE_PASSWORD } from "./client.ts";

const responder: Responder = (ctx) => {
  const last = ctx.lastItem;
  if (
    last?.type === "message" && last.role === "user" && /caller pressed 9/.test(last.text ?? "")
  ) {
    return {
      functionCalls: [{
        name: "transfer_call",
        arguments: JSON.stringify({ reason: "pressed 9" }),
      }],
    };
  }
  if (ctx.instructions?.includes("Greet the caller")) {
    return {
      audioMs: 8000,
      transcript: "Thanks for calling Maple and Main. We have lots of services and " +
        "our opening hours are Tuesday to Saturday, and there is much more to say.",
    };
  }
  return { audioMs: 1000, transcript: "Of course. How can I help?" };
};

Deno.test("console call page of a real call: barge-in with what was heard, key press, transfer", async () => {
  await using h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000", CONSOLE_PASSWORD },
    fake: {
      transcripts: ["Actually, wait, can you repeat that?"],
      chunkMs: 100,
      chunkIntervalMs: 50,
      responder,
    },
  });
  const caller = await h.dial({ audio: withSilence(2000, speech("caller_repeat_that")) });
  await waitUntil(() => caller.events.some((e) => e.type === "clear"), 15_000, "the clear");
  await waitUntil(
    () => h.fake.sessions[0].items.some((i) => i.text === "Of course. How can I help?"),
    15_000,
    "the answer",
  );
  await waitUntil(() => caller.pendingAudioMs === 0, 10_000, "the caller's audio sent");
  caller.sendDtmf("9");
  await waitUntil(() => h.rest!.requests.some((r) => r.form.Twiml), 15_000, "the transfer");
  await caller.hangUp();
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "transferred");

  const client = await signIn(h.app.baseUrl);
  const page = await client.api("call", { callSid: caller.callSid });
  assert.equal(page.status, 200);
  const timeline = page.body.timeline as { kind: string; [k: string]: unknown }[];
  const barge = timeline.find((e) => e.kind === "barge_in")!;
  assert.ok(barge, JSON.stringify(timeline));
  assert.equal(barge.heardMs, record.bargeIns[0].heardMs);
  assert.match(String(barge.heardText), /^Thanks for calling/);
  assert.ok(String(barge.heardText).length < 130, "only the heard words");
  const cut = timeline.find((e) => e.kind === "turn" && e.interrupted);
  assert.equal(cut?.text, barge.heardText);
  assert.equal(timeline.find((e) => e.kind === "dtmf")?.digits, "9");
  const tool = timeline.find((e) => e.kind === "tool" && e.name === "transfer_call")!;
  assert.deepEqual(tool.arguments, { reason: "pressed 9" });
  const transfers = timeline.filter((e) => e.kind === "transfer").map((e) => e.detail);
  assert.deepEqual(transfers, ["agent asked to transfer: pressed 9", "call transferred"]);
  assert.deepEqual(timeline.at(-1), {
    kind: "end",
    at: record.endedAt,
    outcome: "transferred",
    endReason: "transferred",
  });
  // The order is the order things happened.
  const order = ["barge_in", "dtmf", "tool", "end"].map((k) =>
    timeline.findIndex((e) => e.kind === k)
  );
  assert.deepEqual(order, [...order].sort((a, b) => a - b), JSON.stringify(order));

  const list = await client.api("calls", { transferred: true });
  assert.deepEqual(list.body.calls.map((c: { callSid: string }) => c.callSid), [caller.callSid]);
  assert.equal(list.body.calls[0].bargeIns, 1);
});
