/**
 * Ending a conversation well: the agent hangs up or transfers only after its last words
 * have played; key presses reach the model; a silent caller is checked on, then let go.
 */
import assert from "node:assert/strict";
import { mulawSilence } from "../../src/codec/tones.ts";
import type { Responder } from "../support/fake_realtime.ts";
import { startHarness, waitUntil, within } from "../support/harness.ts";

/** Greets for 3 s (streamed in real time); a key press makes it call `tool`. */
function keyPressResponder(tool: "end_call" | "transfer_call"): Responder {
  return (ctx) => {
    const last = ctx.lastItem;
    if (
      last?.type === "message" && last.role === "user" && /caller pressed 9/.test(last.text ?? "")
    ) {
      return {
        functionCalls: [{ name: tool, arguments: JSON.stringify({ reason: "caller asked" }) }],
      };
    }
    return { audioMs: 3000, transcript: "Thanks for calling Maple and Main, how can I help?" };
  };
}

const realTime = { chunkMs: 100, chunkIntervalMs: 100 };

Deno.test("e2e: end_call hangs up by REST only after the goodbye has played; DTMF reaches the model", async () => {
  const h = await startHarness({
    rest: true,
    fake: { ...realTime, responder: keyPressResponder("end_call") },
  });
  try {
    const caller = await h.dial({ audio: mulawSilence(200) });
    await waitUntil(() => caller.agentAudioMsPlayed > 300, 5000, "greeting playing");
    caller.sendDtmf("9");
    await waitUntil(
      () => h.rest!.requests.some((r) => r.form.Status === "completed"),
      15_000,
      "the REST hang-up",
    );
    const playedAtHangUp = caller.agentAudioMsPlayed;
    assert.ok(playedAtHangUp >= 2980, `hung up after ${playedAtHangUp} ms of a 3000 ms goodbye`);
    const session = h.fake.sessions[0];
    assert.ok(
      session.items.some((i) => i.role === "user" && i.text === "(caller pressed 9)"),
      "the key press arrived as text",
    );
    await caller.hangUp(); // Twilio ends the stream after the REST hang-up
    const record = await h.finalRecord(caller.callSid);
    assert.equal(record.outcome, "agent_hung_up");
    assert.deepEqual(record.toolCalls.map((t) => t.name), ["end_call"]);
  } finally {
    await h.close();
  }
});

Deno.test("e2e: transfer_call transfers by REST after the audio; Twilio's stop is not a hang-up", async () => {
  const h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000" },
    fake: { ...realTime, responder: keyPressResponder("transfer_call") },
  });
  try {
    const caller = await h.dial({ audio: mulawSilence(200) });
    await waitUntil(() => caller.agentAudioMsPlayed > 300, 5000, "greeting playing");
    caller.sendDtmf("9");
    await waitUntil(() => h.rest!.requests.some((r) => r.form.Twiml), 15_000, "the transfer");
    assert.ok(caller.agentAudioMsPlayed >= 2980, "transferred after the audio played");
    const transfer = h.rest!.requests.find((r) => r.form.Twiml)!;
    assert.match(transfer.form.Twiml, /<Dial>\+15557770000<\/Dial>/);
    const tools = (h.fake.sessions[0].config.tools as { name: string }[]).map((t) => t.name);
    assert.ok(tools.includes("transfer_call"));
    await caller.hangUp();
    assert.equal((await h.finalRecord(caller.callSid)).outcome, "transferred");
    assert.equal(h.rest!.requests.filter((r) => r.form.Status).length, 0, "no hang-up");
  } finally {
    await h.close();
  }
});

Deno.test("e2e: without REST, end_call closes the stream; no transfer tool is offered", async () => {
  const h = await startHarness({ fake: { ...realTime, responder: keyPressResponder("end_call") } });
  try {
    const caller = await h.dial({ audio: mulawSilence(200) });
    await waitUntil(() => caller.agentAudioMsPlayed > 300, 5000, "greeting playing");
    caller.sendDtmf("9");
    const result = await within(caller.done, 20_000, "the service to end the call");
    assert.equal(result.closedBy, "server");
    assert.ok(result.agentAudioMsPlayed >= 2980, `${result.agentAudioMsPlayed} ms played`);
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
  } finally {
    await h.close();
  }
});

Deno.test("e2e: a silent caller is checked on, then the agent says goodbye and hangs up", async () => {
  const h = await startHarness({
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
  try {
    const started = performance.now();
    const caller = await h.dial({ audio: mulawSilence(200) });
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
  } finally {
    await h.close();
  }
});
