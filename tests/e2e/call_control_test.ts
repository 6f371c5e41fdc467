/**
 * Ending a conversation well: the agent hangs up or transfers only after its goodbye has
 * played, and falls back when Twilio's REST API fails; key presses reach the model as one
 * note; a silent caller is checked on, then let go.
 */
import assert from "node:assert/strict";
import type { TwilioCaller } from "../../src/sim/twilio_caller.ts";
import type { Responder } from "../../scripts/sim/fake_realtime.ts";
import { type Harness, silence, startHarness, waitUntil, within } from "../support/harness.ts";

const GREETING_MS = 500;
const GOODBYE_MS = 2000;
const GOODBYE = "Thank you for calling Maple and Main. Goodbye!";

/**
 * Greets briefly; when the caller keys 4 2 9 (one note, as a quick sequence of presses
 * should be), says a 2 s goodbye and calls `tool` in the same response, as the tool's
 * description asks. The fake streams at 20x real time, so when `response.done` arrives
 * almost all of the goodbye is still to be played: hanging up then would cut it off.
 */
function keyPressResponder(tool: "end_call" | "transfer_call"): Responder {
  return (ctx) => {
    const last = ctx.lastItem;
    if (last?.type === "message" && last.role === "user" && /pressed/.test(last.text ?? "")) {
      return {
        audioMs: GOODBYE_MS,
        transcript: GOODBYE,
        thenCall: [{ name: tool, arguments: JSON.stringify({ reason: "caller asked" }) }],
      };
    }
    return { audioMs: GREETING_MS, transcript: "Thanks for calling Maple and Main." };
  };
}

/** Dials, waits for the greeting to play, keys 4 2 9 quickly. */
async function dialAndPress(h: Harness): Promise<TwilioCaller> {
  const caller = await h.dial({ audio: silence(200) });
  await waitUntil(() => caller.agentAudioMsPlayed >= GREETING_MS, 5000, "greeting played");
  for (const digit of ["4", "2", "9"]) caller.sendDtmf(digit);
  return caller;
}

/** The key presses reached the model as one user note with every digit, in order. */
function assertOneKeyNote(h: Harness): void {
  const notes = h.fake.sessions[0].items.filter((i) =>
    i.role === "user" && /pressed/.test(i.text ?? "")
  );
  assert.equal(notes.length, 1, JSON.stringify(notes.map((n) => n.text)));
  assert.match(notes[0].text!, /pressed 4\W*2\W*9\b/);
}

const played = (caller: TwilioCaller) => `${caller.agentAudioMsPlayed.toFixed(0)} ms played`;

Deno.test("e2e: end_call hangs up by REST only after the goodbye has played; multi-digit DTMF is one note", async () => {
  await using h = await startHarness({
    rest: true,
    fake: { responder: keyPressResponder("end_call") },
  });
  const caller = await dialAndPress(h);
  await waitUntil(
    () => h.rest!.requests.some((r) => r.form.Status === "completed"),
    15_000,
    "the REST hang-up",
  );
  const playedAtHangUp = caller.agentAudioMsPlayed;
  assert.ok(
    playedAtHangUp >= GREETING_MS + GOODBYE_MS - 20,
    `hung up after ${playedAtHangUp} ms of greeting + goodbye (${GREETING_MS + GOODBYE_MS} ms)`,
  );
  assertOneKeyNote(h);
  await caller.hangUp(); // Twilio ends the stream after the REST hang-up
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "agent_hung_up");
  assert.deepEqual(record.toolCalls.map((t) => t.name), ["end_call"]);
  assert.ok(record.transcript.some((t) => t.role === "agent" && t.text === GOODBYE));
});

Deno.test("e2e: transfer_call transfers by REST after the goodbye played; Twilio's stop is not a hang-up", async () => {
  await using h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000" },
    fake: { responder: keyPressResponder("transfer_call") },
  });
  const caller = await dialAndPress(h);
  await waitUntil(() => h.rest!.requests.some((r) => r.form.Twiml), 15_000, "the transfer");
  assert.ok(caller.agentAudioMsPlayed >= GREETING_MS + GOODBYE_MS - 20, played(caller));
  const transfer = h.rest!.requests.find((r) => r.form.Twiml)!;
  assert.match(transfer.form.Twiml, /<Dial>\+15557770000<\/Dial>/);
  const tools = (h.fake.sessions[0].config.tools as { name: string }[]).map((t) => t.name);
  assert.ok(tools.includes("transfer_call"));
  await caller.hangUp();
  assert.equal((await h.finalRecord(caller.callSid)).outcome, "transferred");
  assert.equal(h.rest!.requests.filter((r) => r.form.Status).length, 0, "no hang-up");
});

Deno.test("e2e: without REST, end_call closes the stream after the goodbye; no transfer tool is offered", async () => {
  await using h = await startHarness({ fake: { responder: keyPressResponder("end_call") } });
  const caller = await dialAndPress(h);
  const result = await within(caller.done, 20_000, "the service to end the call");
  assert.equal(result.closedBy, "server");
  assert.ok(
    result.agentAudioMsPlayed >= GREETING_MS + GOODBYE_MS - 20,
    `${result.agentAudioMsPlayed} ms played`,
  );
  const tools = (h.fake.sessions[0].config.tools as { name: string }[]).map((t) => t.name);
  assert.deepEqual(tools.sort(), [
    "book_slot",
    "cancel_booking",
    "end_call",
    "find_booking",
    "get_pricing",
    "get_slots",
    "reschedule_booking",
  ]);
});

Deno.test("e2e: a transfer Twilio refuses does not strand the caller: the call is hung up instead", async () => {
  await using h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000" },
    fake: { responder: keyPressResponder("transfer_call") },
  });
  h.rest!.fail.transfer = true;
  const caller = await dialAndPress(h);
  await waitUntil(
    () => h.rest!.requests.some((r) => r.form.Status === "completed"),
    15_000,
    "the hang-up after the failed transfer",
    () => JSON.stringify(h.rest!.requests.map((r) => r.form)),
  );
  const order = h.rest!.requests.map((r) => (r.form.Twiml ? "transfer" : r.form.Status));
  assert.equal(order.indexOf("transfer"), 0, order.join(","));
  assert.ok(caller.agentAudioMsPlayed >= GREETING_MS + GOODBYE_MS - 20, played(caller));
  await caller.hangUp();
  const record = await h.finalRecord(caller.callSid);
  assert.notEqual(record.outcome, "transferred");
});

Deno.test("e2e: when the REST hang-up fails, the service ends the call by closing the stream", async () => {
  await using h = await startHarness({
    rest: true,
    fake: { responder: keyPressResponder("end_call") },
  });
  h.rest!.fail.hangUp = true;
  const caller = await dialAndPress(h);
  const result = await within(caller.done, 20_000, "the service to close the stream");
  assert.equal(result.closedBy, "server");
  assert.ok(h.rest!.requests.some((r) => r.form.Status === "completed"), "REST was tried");
  assert.ok(result.agentAudioMsPlayed >= GREETING_MS + GOODBYE_MS - 20, played(caller));
  const record = await h.finalRecord(caller.callSid);
  assert.ok(record.endedAt);
});

Deno.test("e2e: a silent caller is checked on, then the agent says goodbye and hangs up", async () => {
  await using h = await startHarness({
    env: { IDLE_CHECKIN_SECONDS: "1", IDLE_HANGUP_SECONDS: "3" },
    fake: {
      responder: (ctx) => {
        const last = ctx.lastItem;
        if (last?.role === "system" && /silent/.test(last.text ?? "")) {
          return { audioMs: 600, transcript: "Are you still there?" };
        }
        if (last?.role === "system" && /goodbye/.test(last.text ?? "")) {
          return { audioMs: 600, transcript: "Goodbye for now." };
        }
        return { audioMs: 500, transcript: "Hello, Maple and Main." };
      },
    },
  });
  const started = performance.now();
  const caller = await h.dial({ audio: silence(200) });
  const result = await within(caller.done, 20_000, "the service to end the call");
  const elapsed = performance.now() - started;
  assert.equal(result.closedBy, "server");
  assert.ok(elapsed > 3000 && elapsed < 10_000, `ended after ${elapsed.toFixed(0)} ms`);
  const texts = h.fake.sessions[0].items.map((i) => i.text ?? "");
  assert.ok(texts.includes("Are you still there?"), texts.join(" | "));
  assert.ok(texts.includes("Goodbye for now."), texts.join(" | "));
  assert.ok(result.agentAudioMsPlayed >= 1680, "greeting, check-in and goodbye all played");
  const record = await h.finalRecord(caller.callSid);
  assert.equal(record.outcome, "agent_hung_up");
  assert.ok(record.transcript.some((t) => t.role === "system" && /check-in/.test(t.text)));
});
