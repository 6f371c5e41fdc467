/**
 * The call simulator when things do not go to plan: a caller turn the VAD splits in two (the
 * second half barges in on the agent's answer to the first) must not stall the call, and a
 * refused or unreachable service is explained in terms of the settings to fix.
 */
import assert from "node:assert/strict";
import { runSimulation, type SimulatorOptions } from "../../src/sim/cli.ts";
import { mulawSilence, synthToneMulaw } from "../../src/codec/tones.ts";
import { resetLogging, setupLogging } from "../../src/log.ts";
import type { Responder } from "../../scripts/sim/fake_realtime.ts";
import { AUTH_TOKEN, type Harness, PUBLIC_URL, startHarness } from "../support/harness.ts";
import { freePort } from "../support/process.ts";

/** A steady voiced sound (the fake VAD hears energy) of `ms`. */
const voice = (ms: number) => synthToneMulaw({ frequencyHz: 220, durationMs: ms, fadeMs: 10 });

/** One caller turn: speech, a pause longer than the VAD's silence, more speech. */
function splitTurn(): Uint8Array {
  const parts = [voice(1200), mulawSilence(1500), voice(1200), mulawSilence(300)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const ANSWER_MS = 3000;
/** Greets; answers the first half at length (so the second half interrupts it), then briefly. */
const responder: Responder = (ctx) => {
  if (ctx.trigger === "response.create") return { audioMs: 800, transcript: "Hello?" };
  const turns = ctx.items.filter((i) => i.role === "user").length;
  return turns === 1
    ? { audioMs: ANSWER_MS, transcript: "Sure, let me tell you all about our haircuts." }
    : { audioMs: 600, transcript: "Okay." };
};

function options(h: Harness, extra: Partial<SimulatorOptions> = {}): SimulatorOptions {
  return {
    ...h.target,
    turns: [
      { kind: "audio", label: "split turn", mulaw: splitTurn() },
      { kind: "audio", label: "second turn", mulaw: voice(1000) },
    ],
    outFormat: "mulaw",
    pauseMs: 500,
    replyTimeoutMs: 8000,
    maxMs: 40_000,
    ...extra,
  };
}

Deno.test("simulator: a turn split by the VAD barges in on the answer; the call goes on, played ms stay right", async () => {
  await using h = await startHarness({ env: { VAD_SILENCE_MS: "500" }, fake: { responder } });
  const lines: string[] = [];
  const started = performance.now();
  const result = await runSimulation(options(h), (l) => lines.push(l));
  const took = performance.now() - started;
  const printed = lines.join("\n");

  // The barge-in happened: the answer to the first half was cleared mid-way.
  const clears = result.caller.events.filter((e) => e.type === "clear");
  assert.equal(clears.length, 1, printed);
  assert.match(printed, /clear received \(barge-in\)/);
  // The simulator saw the agent finish after it and sent the second turn (no stall).
  assert.equal(result.turns.length, 2, printed);
  assert.ok(result.turns[1].latencyMs !== undefined, `turn 2 was answered:\n${printed}`);
  assert.ok(took < 30_000, `the call took ${Math.round(took)} ms:\n${printed}`);
  assert.equal(result.caller.closedBy, "caller", "the caller hung up, not the idle timeout");

  // "ms played" per segment adds up to what the caller really played.
  const cleared = result.segments.filter((s) => s.cleared);
  assert.equal(cleared.length, 1);
  assert.ok(cleared[0].playedMs > 0 && cleared[0].playedMs < ANSWER_MS, printed);
  const total = result.segments.reduce((ms, s) => ms + s.playedMs, 0);
  assert.ok(
    Math.abs(total - result.caller.agentAudioMsPlayed) <= 2 * result.segments.length,
    `segments ${total} ms, caller played ${result.caller.agentAudioMsPlayed} ms\n${printed}`,
  );
  for (const s of result.segments.filter((s) => !s.cleared)) {
    assert.ok([800, 600].includes(s.playedMs), `segment of ${s.playedMs} ms\n${printed}`);
  }
});

Deno.test("simulator: a wrong auth token is refused with a hint naming PUBLIC_URL and TWILIO_AUTH_TOKEN, on both sides", async () => {
  const logs: string[] = [];
  await setupLogging({ level: "info", format: "json", write: (l) => logs.push(l) });
  const h = await startHarness();
  try {
    const wrong = "not-the-right-token";
    await assert.rejects(
      () => runSimulation({ ...options(h), authToken: wrong }, () => {}),
      (error: Error) => {
        assert.match(error.message, /HTTP 403/);
        assert.match(error.message, /PUBLIC_URL/);
        assert.match(error.message, /TWILIO_AUTH_TOKEN/);
        assert.ok(error.message.includes(`signed for ${PUBLIC_URL}`), error.message);
        assert.doesNotMatch(error.message, new RegExp(`${wrong}|${AUTH_TOKEN}`));
        return true;
      },
    );
    // The service's log shows the URL it checked and what to fix, never the token.
    const rejected = logs.map((l) => JSON.parse(l)).find((r) =>
      /invalid Twilio signature/.test(r.message)
    );
    assert.ok(rejected, logs.join("\n"));
    assert.ok(rejected.message.includes(`for ${PUBLIC_URL}/twilio/voice`), rejected.message);
    assert.match(rejected.message, /PUBLIC_URL must be the public URL Twilio calls/);
    assert.match(rejected.message, /TWILIO_AUTH_TOKEN/);
    assert.equal(rejected.url, `${PUBLIC_URL}/twilio/voice`);
    assert.doesNotMatch(logs.join("\n"), new RegExp(`${wrong}|${AUTH_TOKEN}`));
  } finally {
    await h.close();
    await resetLogging();
  }
});

Deno.test("simulator: no service at --server says so and names --server and PORT", async () => {
  const port = await freePort();
  await assert.rejects(
    () =>
      runSimulation({
        serverUrl: `http://127.0.0.1:${port}`,
        publicUrl: PUBLIC_URL,
        authToken: AUTH_TOKEN,
        turns: [],
        outFormat: "mulaw",
        pauseMs: 500,
        replyTimeoutMs: 1000,
        maxMs: 5000,
      }, () => {}),
    (error: Error) => {
      assert.match(error.message, new RegExp(`nothing answers at http://127\\.0\\.0\\.1:${port}`));
      assert.match(error.message, /Is the service running/);
      assert.match(error.message, /--server/);
      assert.match(error.message, /PORT/);
      return true;
    },
  );
});
