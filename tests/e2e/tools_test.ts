/**
 * The model's tool calls through a live call: wrong arguments come back as a structured
 * error the model can fix; a slow lookup gets a spoken filler instead of dead air.
 */
import assert from "node:assert/strict";
import type { Responder } from "../../scripts/sim/fake_realtime.ts";
import { nextOpenDate, speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";

/** Asks for slots with `first` arguments, then (after any error) with good ones, then speaks. */
function slotsResponder(date: string, first: Record<string, unknown>): Responder {
  return (ctx) => {
    const last = ctx.lastItem;
    if (ctx.instructions?.includes("Greet the caller")) {
      return { audioMs: 400, transcript: "Hello." };
    }
    if (ctx.instructions?.includes("filler")) {
      return { audioMs: 600, transcript: "One moment while I check." };
    }
    if (last?.type === "function_call_output") {
      const out = JSON.parse(last.output!);
      if (out.error?.code === "invalid_arguments") {
        return {
          functionCalls: [{
            name: "get_slots",
            arguments: JSON.stringify({ service: "men's cut", date }),
          }],
        };
      }
      return { audioMs: 700, transcript: out.slots?.length ? "I have a few times." : "Hmm." };
    }
    if (last?.role === "user") {
      return { functionCalls: [{ name: "get_slots", arguments: JSON.stringify(first) }] };
    }
    return { audioMs: 300, transcript: "Okay." };
  };
}

Deno.test("e2e: invalid tool arguments return a structured error and the model retries", async () => {
  await using h = await startHarness({
    fake: { transcripts: ["Hi, I'd like to book a haircut."] },
  });
  const date = nextOpenDate(h.app.profile);
  h.fake.setResponder(slotsResponder(date, { service: 42, when: "soon" }));
  const caller = await h.dial({ audio: withSilence(800, speech("caller_book_haircut")) });
  await waitUntil(
    () => h.fake.sessions[0].items.some((i) => i.text === "I have a few times."),
    20_000,
    "the answer after the retry",
  );
  await caller.hangUp();
  const outputs = h.fake.sessions[0].items.filter((i) => i.type === "function_call_output")
    .map((i) => JSON.parse(i.output!));
  assert.equal(outputs.length, 2);
  assert.equal(outputs[0].error.code, "invalid_arguments");
  assert.ok(outputs[0].error.issues.some((s: string) => s.startsWith("service:")));
  assert.ok(outputs[0].error.issues.some((s: string) => s.startsWith("date:")));
  assert.ok(outputs[1].slots.length > 0);
  assert.deepEqual(h.fake.sessions[0].errors, []);
  const record = await h.finalRecord(caller.callSid);
  assert.match(record.toolCalls[0].error ?? "", /^invalid_arguments/);
  assert.equal(record.toolCalls[1].error, undefined);
});

Deno.test("e2e: a slow tool gets a spoken filler, so the caller never hears dead air", async () => {
  await using h = await startHarness({
    fake: { transcripts: ["Hi, I'd like to book a haircut."] },
  });
  const date = nextOpenDate(h.app.profile);
  h.fake.setResponder(slotsResponder(date, { service: "men's cut", date }));
  // The database is slow today.
  const store = h.app.store;
  const original = store.listFreeSlots.bind(store);
  store.listFreeSlots = async (q) => {
    await new Promise((r) => setTimeout(r, 2000));
    return original(q);
  };
  const caller = await h.dial({ audio: withSilence(800, speech("caller_book_haircut")) });
  await waitUntil(
    () => h.fake.sessions[0].items.some((i) => i.text === "I have a few times."),
    20_000,
    "the answer",
  );
  await caller.hangUp();
  const texts = h.fake.sessions[0].items.filter((i) => i.role === "assistant").map((i) => i.text);
  const filler = texts.indexOf("One moment while I check.");
  assert.ok(filler >= 0, texts.join(" | "));
  assert.ok(filler < texts.indexOf("I have a few times."), "the filler came first");
  assert.deepEqual(h.fake.sessions[0].errors, [], "no overlapping responses");
});
