/**
 * What an operator reads in `journalctl` about one call: the JSON lines of a simulated call
 * carry rendered messages and the call id, and tell the whole story: start, every turn (who,
 * latency), every tool call (name, result, ms), the barge-in, the transfer, the end and the
 * outcome. The pretty format shows the call id too.
 */
import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { formatPrettyLine, resetLogging, setupLogging } from "../../src/log.ts";
import type { Responder } from "../../scripts/sim/fake_realtime.ts";
import { bookingResponder } from "../../scripts/sim/receptionist.ts";
import { nextOpenDate, speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";

interface Line {
  message: string;
  logger: string;
  level: string;
  callSid?: string;
  [key: string]: unknown;
}

Deno.test("logs: one simulated call, read back from its JSON lines: every event rendered, each with the call id", async () => {
  const raw: string[] = [];
  await setupLogging({ level: "info", format: "json", write: (l) => raw.push(l) });
  const h = await startHarness({
    rest: true,
    env: { TRANSFER_NUMBER: "+15557770000", VAD_SILENCE_MS: "900" },
    fake: {
      transcripts: ["Hi, I'd like to book a haircut tomorrow afternoon.", "Two thirty works."],
      // Twice real time: the greeting is still playing when the caller starts talking.
      chunkMs: 100,
      chunkIntervalMs: 50,
    },
  });
  try {
    const booking = bookingResponder(nextOpenDate(h.app.profile));
    const responder: Responder = (ctx) => {
      if (ctx.trigger === "response.create" && ctx.instructions?.includes("Greet the caller")) {
        return {
          audioMs: 6000,
          transcript: "Thanks for calling Maple and Main. " + "La ".repeat(20),
        };
      }
      if (/caller pressed 0/.test(ctx.lastItem?.text ?? "")) {
        return {
          functionCalls: [{ name: "transfer_call", arguments: '{"reason":"caller asked"}' }],
        };
      }
      return booking(ctx);
    };
    h.fake.setResponder(responder);
    // The caller talks over the greeting (barge-in), asks, hears the offer, takes it,
    // then presses 0 for a person (transfer).
    const caller = await h.dial({ audio: withSilence(1500, speech("caller_book_haircut")) });
    const session = () => h.fake.sessions[0];
    await waitUntil(
      () => session()?.items.some((i) => i.text?.startsWith("I have")) ?? false,
      20_000,
      "the offer",
    );
    await waitUntil(
      () =>
        caller.agentAudioMsPlayed >= caller.events.reduce(
              (ms, e) => ms - (e.type === "clear" ? e.droppedMs : 0),
              caller.receivedAudio().length / 8,
            ) - 1,
      15_000,
      "the offer played",
    );
    caller.sendAudio(withSilence(300, speech("caller_two_thirty")));
    await waitUntil(
      () => session().items.some((i) => i.text?.startsWith("You're booked")),
      20_000,
      "the booking",
    );
    caller.sendDtmf("0");
    await waitUntil(() => h.rest!.requests.some((r) => r.form.Twiml), 15_000, "the transfer");
    await caller.hangUp();
    const record = await h.finalRecord(caller.callSid);
    assert.equal(record.outcome, "transferred");
    await waitUntil(
      () => raw.some((l) => l.includes("call ended")),
      5000,
      "the call-ended line",
    );

    const lines = raw.map((l) => JSON.parse(l) as Line);
    const sid = caller.callSid;
    // Every message is rendered: no {placeholder} is left.
    for (const l of lines) assert.doesNotMatch(l.message, /\{[A-Za-z]+\}/, l.message);
    const ofCall = lines.filter((l) => l.callSid === sid);
    const find = (re: RegExp, what: string) => {
      const found = ofCall.filter((l) => re.test(l.message));
      assert.ok(found.length > 0, `no "${what}" line with callSid ${sid}:\n${raw.join("\n")}`);
      return found;
    };

    find(new RegExp(`^incoming call ${sid}$`), "incoming call");
    find(/^call started from \+15550001111/, "start");
    // Turns: who, and the agent's latency after the caller stopped.
    assert.ok(find(/^caller turn ended$/, "caller turn").every((l) => l.who === "caller"));
    const agentTurns = find(/^agent turn: first audio \d+ ms after the caller stopped$/, "latency");
    assert.ok(agentTurns.length >= 2, "an answer to each caller turn");
    for (const t of agentTurns) {
      assert.equal(t.who, "agent");
      assert.equal(typeof t.latencyMs, "number");
      assert.ok(t.message.includes(`${t.latencyMs} ms`));
    }
    find(/^agent turn: greeting$/, "greeting");
    // Tool calls: name, result status, ms.
    find(/^tool get_slots ok in \d+ ms$/, "get_slots");
    const booked = find(/^tool book_slot confirmed in \d+ ms$/, "book_slot")[0];
    assert.equal(booked.tool, "book_slot");
    assert.equal(booked.result, "confirmed");
    assert.equal(typeof booked.ms, "number");
    find(/^tool transfer_call transferring in \d+ ms$/, "transfer_call");
    // The barge-in on the greeting, the transfer, the end and the outcome.
    const barge =
      find(/^barge-in: agent cut off after \d+ ms heard; cleared in [\d.]+ ms$/, "barge")[0];
    assert.equal(typeof barge.heardMs, "number");
    find(/^transferring call: caller asked$/, "transfer");
    find(new RegExp(`^call ${sid} transferred$`), "transferred by REST");
    find(/^media stream ended \((stop|close)\)$/, "stream end");
    const ended = find(/^call ended: transferred$/, "end and outcome")[0];
    assert.equal(ended.outcome, "transferred");
    // Everything the call's own loggers wrote carries the call id.
    for (const l of lines.filter((l) => /^voice-agent\.(call|realtime)$/.test(l.logger))) {
      assert.ok(l.callSid, `no callSid on ${JSON.stringify(l)}`);
    }
  } finally {
    await h.close();
    await resetLogging();
  }
});

Deno.test("logs: the pretty format shows the call id and renders values", () => {
  const record: LogRecord = {
    category: ["voice-agent", "call"],
    level: "info",
    message: ["tool ", "get_slots", " ", "ok", " in ", 4, " ms"],
    rawMessage: "tool {tool} {result} in {ms} ms",
    timestamp: Date.UTC(2026, 10, 28, 15, 0, 1, 234),
    properties: { callSid: "CA0123", tool: "get_slots", result: "ok", ms: 4 },
  };
  assert.equal(
    formatPrettyLine(record),
    "15:00:01.234 [INF] voice-agent.call CA0123: tool get_slots ok in 4 ms",
  );
  const noCall = formatPrettyLine({ ...record, properties: {} });
  assert.equal(noCall, "15:00:01.234 [INF] voice-agent.call: tool get_slots ok in 4 ms");
});
