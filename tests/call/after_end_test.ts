/**
 * The call's two after-the-call hooks, in virtual time: the tap sees what Twilio sent
 * (with its timestamps), the agent audio sent and what a clear took back, and the end;
 * the after-end step runs once the call is over with the model session still open, its
 * fields land in the final record, and a step that never finishes is cut at its deadline.
 */
import assert from "node:assert/strict";
import { Call } from "../../src/call/call.ts";
import { PassThroughAudioPath } from "../../src/call/audio_path.ts";
import type { AfterEndStep, CallTap } from "../../src/call/call_tap.ts";
import type { Truncation } from "../../src/call/playout.ts";
import type { CallRecord } from "../../src/call/record.ts";
import { ToolRegistry } from "../../src/agent/tools.ts";
import { logger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { sleep } from "../../src/clock.ts";
import { VirtualClock } from "../support/virtual_clock.ts";
import { FakeCallerStream, FakeModelSession } from "./fakes.ts";

/** A tap that writes down what it sees. */
class TapLog implements CallTap {
  readonly caller: { bytes: number; ts: number }[] = [];
  readonly agent: { bytes: number; itemId: string; at: number }[] = [];
  readonly clears: { truncations: readonly Truncation[]; at: number }[] = [];
  endedAt: number | undefined;
  callerAudio(mulaw: Uint8Array, timestampMs: number): void {
    this.caller.push({ bytes: mulaw.length, ts: timestampMs });
  }
  agentAudio(mulaw: Uint8Array, itemId: string, atMs: number): void {
    this.agent.push({ bytes: mulaw.length, itemId, at: atMs });
  }
  agentCleared(truncations: readonly Truncation[], atMs: number): void {
    this.clears.push({ truncations, at: atMs });
  }
  ended(atMs: number): void {
    this.endedAt = atMs;
  }
}

function setup(o: { afterEnd?: AfterEndStep; afterEndMs?: number; tap?: CallTap } = {}) {
  const clock = new VirtualClock();
  const stream = new FakeCallerStream(clock);
  const session = new FakeModelSession(clock, "open");
  const records: CallRecord[] = [];
  const call = new Call({
    callSid: "CA0002",
    from: "+15550001111",
    to: "+15559990000",
    stream,
    session,
    audio: new PassThroughAudioPath(),
    tools: new ToolRegistry([], clock),
    records: {
      saveCall(record) {
        records.push(structuredClone(record));
        return Promise.resolve();
      },
    },
    greeting: "Hello.",
    limits: {
      idleCheckinMs: 60_000,
      idleHangupMs: 120_000,
      maxCallMs: 1_800_000,
      modelReadyMs: 2500,
      slowToolMs: 1000,
      afterEndMs: o.afterEndMs,
    },
    prompts: { apology: new Uint8Array(8000).fill(0x33), hold: new Uint8Array(1600).fill(0x44) },
    metrics: new Metrics(),
    log: logger("test", "call"),
    clock,
    tap: o.tap,
    afterEnd: o.afterEnd,
  });
  return { clock, stream, session, records, call };
}

Deno.test("call tap: caller frames with Twilio's timestamps, agent audio per item, the clear's truncations, the end", async () => {
  const tap = new TapLog();
  const c = setup({ tap });
  c.call.start();
  const r = c.session.startResponse();
  const itemId = await c.session.speak(r, 2000, "A long answer.");
  c.stream.sayAudio(new Uint8Array(480).fill(0x10), 600);
  await c.clock.advance(700);
  c.session.speechStarted();
  c.session.finishResponse(r, "cancelled");
  await c.clock.advance(300);
  c.stream.hangUp();
  await c.call.done;

  assert.deepEqual(tap.caller, [
    { bytes: 160, ts: 600 },
    { bytes: 160, ts: 620 },
    { bytes: 160, ts: 640 },
  ]);
  assert.equal(tap.agent.reduce((n, a) => n + a.bytes, 0), 2000 * 8, "every frame sent");
  assert.ok(tap.agent.every((a) => a.itemId === itemId && a.at === 0));
  assert.equal(tap.clears.length, 1);
  assert.equal(tap.clears[0].at, 700);
  assert.deepEqual(tap.clears[0].truncations, [{
    itemId,
    audioEndMs: c.session.truncations[0].ms,
  }]);
  assert.equal(tap.endedAt, 1000);
});

Deno.test("call tap: the caller's audio is recorded during the apology too (Twilio still sends it)", async () => {
  const tap = new TapLog();
  const c = setup({ tap });
  c.call.start();
  c.session.fail();
  const appended = c.session.appended;
  c.stream.sayAudio(new Uint8Array(160).fill(0x10), 100);
  assert.equal(c.session.appended, appended, "not sent to a model that is gone");
  assert.deepEqual(tap.caller, [{ bytes: 160, ts: 100 }]);
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("after end: runs once the call is over with the model session still open; its fields are in the final record", async () => {
  const seen: { phase: string; sessionState: string; streamClosed: boolean; outcome: string }[] =
    [];
  const c = setup({
    afterEnd: async (ctx) => {
      seen.push({
        phase: c.call.phase.name,
        sessionState: c.session.state,
        streamClosed: c.stream.closed,
        outcome: ctx.outcome,
      });
      await new Promise((r) => setTimeout(r, 5));
      ctx.annotate("summary", { status: "ok", text: "A short call." });
    },
  });
  c.call.start();
  await c.session.reply(300, "Hello.");
  await c.clock.advance(500);
  c.stream.hangUp();
  const record = await c.call.done;
  assert.deepEqual(seen, [{
    phase: "finished",
    sessionState: "open",
    streamClosed: true,
    outcome: "caller_hung_up",
  }]);
  assert.equal(c.session.state, "closed", "closed once the step is done");
  assert.deepEqual(record.extra?.summary, { status: "ok", text: "A short call." });
  assert.deepEqual(c.records.at(-1)?.extra?.summary, record.extra?.summary, "saved");
});

Deno.test("after end: a step that never finishes is cut at afterEndMs; the record is saved, the session closed", async () => {
  let aborted = false;
  const c = setup({
    afterEndMs: 3000,
    afterEnd: (ctx) => {
      ctx.signal.addEventListener("abort", () => aborted = true);
      return new Promise(() => {}); // never
    },
  });
  c.call.start();
  c.stream.hangUp();
  let done = false;
  void c.call.done.then(() => done = true);
  await c.clock.advance(2900);
  assert.equal(done, false);
  assert.equal(c.session.state, "open", "the step still has the model");
  await c.clock.advance(200);
  assert.equal(done, true);
  assert.equal(aborted, true, "the step was told");
  assert.equal(c.session.state, "closed");
  assert.equal(c.records.at(-1)?.outcome, "caller_hung_up");
  assert.equal(c.clock.pendingTimers, 0, "nothing left running");
});

Deno.test("after end: the record's end is when the call ended, not when the step finished", async () => {
  const c = setup({ afterEnd: () => sleep(c.clock, 2000) });
  c.call.start();
  await c.clock.advance(1000);
  c.stream.hangUp();
  const done = c.call.done;
  await c.clock.advance(2500);
  const record = await done;
  assert.equal(Date.parse(record.endedAt!) - Date.parse(record.startedAt), 1000);
});

Deno.test("after end: a step that throws is logged; the call still ends cleanly", async () => {
  const c = setup({ afterEnd: () => Promise.reject(new Error("boom")) });
  c.call.start();
  c.stream.hangUp();
  const record = await c.call.done;
  assert.equal(record.outcome, "caller_hung_up");
  assert.equal(c.session.state, "closed");
});
