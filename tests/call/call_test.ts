/**
 * The call's rules, in virtual time, against in-memory fakes of its two ports: barge-in
 * order, tools one response at a time, goodbye before hang-up or transfer, the apology,
 * idle check-in and give-up, DTMF batching, a stream that ended before the call started,
 * REST answers, and that the record and the metrics tell the same outcome on every path.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { Call, type CallControl, type CallLimits } from "../../src/call/call.ts";
import { PassThroughAudioPath } from "../../src/call/audio_path.ts";
import type { CallRecord } from "../../src/call/record.ts";
import { defineTool, type Tool, ToolRegistry } from "../../src/agent/tools.ts";
import { callControlTools } from "../../src/agent/call_control_tools.ts";
import { Metrics } from "../../src/metrics.ts";
import { logger } from "../../src/log.ts";
import { sleep } from "../../src/clock.ts";
import { VirtualClock } from "../support/virtual_clock.ts";
import { FakeCallerStream, FakeModelSession } from "./fakes.ts";

/** REST call control that records requests and answers as told. */
class FakeControl implements CallControl {
  readonly requests: { kind: "transfer" | "hangup"; at: number; playedMs: number }[] = [];
  hangUpAnswer: "completed" | "already_ended" | Error = "completed";
  transferAnswer: "ok" | Error = "ok";
  constructor(readonly clock: VirtualClock, readonly stream: () => FakeCallerStream) {}
  transfer(): Promise<unknown> {
    this.requests.push({
      kind: "transfer",
      at: this.clock.now(),
      playedMs: this.stream().playedMs(),
    });
    return this.transferAnswer === "ok" ? Promise.resolve() : Promise.reject(this.transferAnswer);
  }
  hangUp(): Promise<"completed" | "already_ended"> {
    this.requests.push({
      kind: "hangup",
      at: this.clock.now(),
      playedMs: this.stream().playedMs(),
    });
    const answer = this.hangUpAnswer;
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
  }
}

interface SetupOptions {
  /** The call's clock (create it first when tools need it too). */
  clock?: VirtualClock;
  control?: boolean;
  transferNumber?: string;
  sessionState?: "open" | "idle" | "connecting";
  limits?: Partial<CallLimits>;
  tools?: Tool[];
  echoMarks?: boolean;
}

function setup(o: SetupOptions = {}) {
  const clock = o.clock ?? new VirtualClock();
  const stream = new FakeCallerStream(clock, o.echoMarks ?? true);
  const session = new FakeModelSession(clock, o.sessionState ?? "open");
  const control = o.control ? new FakeControl(clock, () => stream) : undefined;
  const metrics = new Metrics();
  const records: CallRecord[] = [];
  // deno-lint-ignore prefer-const
  let call: Call;
  const tools = new ToolRegistry([
    ...(o.tools ?? []),
    ...callControlTools({
      requestHangUp: (why) => call.requestHangUp(why),
      requestTransfer: o.transferNumber ? (why) => call.requestTransfer(why) : undefined,
    }),
  ], clock);
  call = new Call({
    callSid: "CA0000",
    from: "+15550001111",
    to: "+15559990000",
    stream,
    session,
    audio: new PassThroughAudioPath(),
    tools,
    records: {
      saveCall(record) {
        records.push(structuredClone(record));
        return Promise.resolve();
      },
    },
    greeting: "Thanks for calling Maple and Main.",
    limits: {
      idleCheckinMs: 15_000,
      idleHangupMs: 45_000,
      maxCallMs: 1_800_000,
      modelReadyMs: 2500,
      slowToolMs: 1000,
      ...o.limits,
    },
    prompts: {
      apology: new Uint8Array(8000).fill(0x33), // one second
      hold: new Uint8Array(1600).fill(0x44), // 200 ms
    },
    transferNumber: o.transferNumber,
    control,
    metrics,
    log: logger("test", "call"),
    clock,
  });
  return { clock, stream, session, control, metrics, records, call };
}

/** The outcome label the metrics counted (exactly one call). */
async function metricOutcome(metrics: Metrics): Promise<string> {
  const values = (await metrics.callsTotal.counter.get()).values.filter((v) => v.value > 0);
  assert.equal(values.length, 1, "one call counted");
  return String(values[0].labels.outcome);
}

/** Checks the saved record and the metrics agree, and returns the outcome. */
async function finalOutcome(ctx: ReturnType<typeof setup>): Promise<string> {
  const record = await ctx.call.done;
  assert.ok(record.endedAt, "the final record has an end");
  assert.equal(ctx.records.at(-1)?.outcome, record.outcome, "the last save is the final one");
  assert.equal(await metricOutcome(ctx.metrics), record.outcome, "record and metrics agree");
  assert.equal(ctx.call.phase.name, "finished");
  assert.equal(ctx.session.state, "closed", "the model session is closed");
  assert.equal(ctx.stream.closed, true, "the stream is closed");
  return record.outcome;
}

/** A tool that takes `ms` of virtual time and records when it ran. */
function timedTool(name: string, clock: VirtualClock, ms: number, log: string[]): Tool {
  return defineTool({
    name,
    description: name,
    parameters: z.object({ n: z.number() }),
    timeoutMs: 10_000,
    handler: async ({ n }) => {
      log.push(`start ${name} ${n} @${clock.now()}`);
      await sleep(clock, ms);
      log.push(`end ${name} ${n} @${clock.now()}`);
      return { status: "ok", n };
    },
  });
}

Deno.test("call: greets once the model is open; the greeting carries the profile's words", async () => {
  const c = setup();
  c.call.start();
  assert.equal(c.call.phase.name, "live");
  assert.equal(c.session.creates.length, 1);
  assert.match(String(c.session.creates[0].options?.instructions), /Maple and Main/);
  c.stream.hangUp();
  assert.equal(await finalOutcome(c), "caller_hung_up");
});

Deno.test("call: barge-in clears first, truncates to what was heard, then drops late audio", async () => {
  const c = setup();
  c.call.start();
  const id = c.session.startResponse();
  const itemId = await c.session.speak(id, 2000, "A long answer that goes on.");
  const sentBefore = c.stream.sent.filter((s) => s.kind === "media").length;
  await c.clock.advance(700);
  c.session.speechStarted();
  const clearAt = c.stream.sent.findIndex((s) => s.kind === "clear");
  assert.ok(clearAt > 0, "Twilio was told to clear");
  assert.equal(c.session.truncations.length, 1);
  const t = c.session.truncations[0];
  assert.equal(t.itemId, itemId);
  assert.ok(t.ms >= 680 && t.ms <= 720, `truncated at ${t.ms} ms after 700 ms of playback`);
  assert.ok(c.stream.sent[clearAt].at <= t.at, "clear before truncate");
  // The server cancels, but deltas already in flight still arrive: none reach the caller.
  await c.session.speak(id, 400);
  c.session.finishResponse(id, "cancelled");
  assert.equal(c.stream.sent.filter((s) => s.kind === "media").length, sentBefore);
  assert.ok(c.stream.playedMs() <= 701, "the caller heard nothing after the clear");
  c.stream.hangUp();
  const record = await c.call.done;
  assert.equal(record.bargeIns.length, 1);
  assert.equal(record.bargeIns[0].heardMs, t.ms);
  assert.ok((record.extra?.droppedLateDeltas as number) >= 20);
  const agent = record.transcript.find((e) => e.role === "agent");
  assert.equal(agent?.interrupted, true);
});

Deno.test("call: a barge-in after everything played clears nothing and truncates nothing", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(500, "Short.");
  await c.clock.advance(600); // played and echoed
  c.session.speechStarted();
  assert.equal(c.stream.sent.filter((s) => s.kind === "clear").length, 0);
  assert.equal(c.session.truncations.length, 0);
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("call: tools run one response at a time, results then one follow-up response", async () => {
  const log: string[] = [];
  const clock = new VirtualClock();
  const d = setup({ clock, tools: [timedTool("lookup", clock, 300, log)] });
  d.call.start();
  const r1 = d.session.startResponse();
  d.session.callFunction(r1, "lookup", { n: 1 });
  d.session.callFunction(r1, "lookup", { n: 2 });
  d.session.finishResponse(r1);
  // A second response's tool call arrives while the first ones run.
  const r2 = d.session.startResponse();
  d.session.callFunction(r2, "lookup", { n: 3 });
  d.session.finishResponse(r2);
  await d.clock.advance(1000);
  assert.deepEqual(log, [
    "start lookup 1 @0",
    "end lookup 1 @300",
    "start lookup 2 @300",
    "end lookup 2 @600",
    "start lookup 3 @600",
    "end lookup 3 @900",
  ]);
  assert.deepEqual(d.session.outputs.map((o) => (o.output as { n: number }).n), [1, 2, 3]);
  // greeting + one follow-up after each response's results (the second one deferred).
  const followUps = d.session.creates.slice(1);
  assert.equal(followUps.length, 1, "the second follow-up waits for the first response");
  d.session.finishResponse(d.session.startResponse()); // the server answers the first follow-up
  assert.equal(d.session.creates.length, 3);
  d.stream.hangUp();
  await d.call.done;
});

Deno.test("call: tool calls of an interrupted response are not run", async () => {
  const log: string[] = [];
  const clock = new VirtualClock();
  const c = setup({ clock, tools: [timedTool("book_slot", clock, 10, log)] });
  c.call.start();
  const r = c.session.startResponse();
  await c.session.speak(r, 1000);
  c.session.callFunction(r, "book_slot", { n: 1 });
  c.session.speechStarted();
  c.session.finishResponse(r, "cancelled");
  await c.clock.advance(100);
  assert.deepEqual(log, [], "book_slot never ran");
  assert.deepEqual(c.session.outputs.map((o) => o.output), [
    { status: "not_run", reason: "the caller interrupted" },
  ]);
  c.stream.hangUp();
  const record = await c.call.done;
  assert.equal(record.toolCalls[0].name, "book_slot");
  assert.deepEqual(record.toolCalls[0].result, {
    status: "not_run",
    reason: "the caller interrupted",
  });
});

Deno.test("call: a slow tool gets a spoken filler", async () => {
  const clock = new VirtualClock();
  const d = setup({ clock, tools: [timedTool("slow", clock, 2500, [])] });
  d.call.start();
  await d.session.reply(200, "Hello!"); // the greeting
  const r = d.session.startResponse();
  d.session.callFunction(r, "slow", { n: 1 });
  d.session.finishResponse(r);
  await d.clock.advance(900);
  assert.equal(d.session.creates.length, 1, "no filler before slowToolMs");
  await d.clock.advance(200);
  const filler = d.session.creates.at(-1);
  assert.match(String(filler?.options?.instructions), /filler/);
  await d.clock.advance(2000);
  d.stream.hangUp();
  await d.call.done;
});

Deno.test("call: end_call hangs up by REST only after the goodbye has played", async () => {
  const c = setup({ control: true });
  c.call.start();
  await c.session.reply(300, "Hello!");
  await c.clock.advance(1000);
  const r = c.session.startResponse();
  await c.session.speak(r, 3000, "Goodbye, and thanks for calling.");
  c.session.callFunction(r, "end_call", { reason: "caller is done" });
  c.session.finishResponse(r);
  await c.clock.advance(100);
  assert.equal(c.call.phase.name, "ending");
  assert.equal(c.control!.requests.length, 0, "no hang-up while the goodbye plays");
  await c.clock.until(() => c.control!.requests.length > 0, 10_000);
  const hangUp = c.control!.requests[0];
  assert.equal(hangUp.kind, "hangup");
  assert.ok(hangUp.playedMs >= 3290, `hung up after ${hangUp.playedMs} ms of 3300 ms played`);
  c.stream.hangUp(); // Twilio's stop after the REST hang-up
  assert.equal(await finalOutcome(c), "agent_hung_up");
});

Deno.test("call: transfer_call transfers only after the audio; Twilio's stop is not a hang-up", async () => {
  const c = setup({ control: true, transferNumber: "+15557770000" });
  c.call.start();
  const r = c.session.startResponse();
  await c.session.speak(r, 2000, "Let me put you through.");
  c.session.callFunction(r, "transfer_call", { reason: "wants a person" });
  c.session.finishResponse(r);
  await c.clock.until(() => c.control!.requests.length > 0, 10_000);
  assert.equal(c.control!.requests[0].kind, "transfer");
  assert.ok(c.control!.requests[0].playedMs >= 1990);
  await c.clock.advance(50);
  c.stream.hangUp();
  assert.equal(await finalOutcome(c), "transferred");
});

Deno.test("call: a failed transfer falls back to hanging up, outcome error", async () => {
  const c = setup({ control: true, transferNumber: "+15557770000" });
  c.control!.transferAnswer = new Error("21220 not in progress");
  c.call.start();
  const r = c.session.startResponse();
  c.session.callFunction(r, "transfer_call", { reason: "wants a person" });
  c.session.finishResponse(r);
  await c.clock.until(() => c.control!.requests.length === 2, 10_000);
  assert.deepEqual(c.control!.requests.map((q) => q.kind), ["transfer", "hangup"]);
  c.stream.hangUp();
  assert.equal(await finalOutcome(c), "error");
});

Deno.test("call: REST hang-up answering 'already ended' finishes the call", async () => {
  const c = setup({ control: true });
  c.control!.hangUpAnswer = "already_ended";
  c.call.start();
  const r = c.session.startResponse();
  c.session.callFunction(r, "end_call", { reason: "done" });
  c.session.finishResponse(r);
  await c.clock.advance(100);
  assert.equal(await finalOutcome(c), "agent_hung_up");
});

Deno.test("call: after a REST hang-up without Twilio's stop, the call finishes within the grace", async () => {
  const c = setup({ control: true, limits: { stopGraceMs: 5000 } });
  c.call.start();
  const r = c.session.startResponse();
  c.session.callFunction(r, "end_call", { reason: "done" });
  c.session.finishResponse(r);
  await c.clock.advance(4000);
  assert.equal(c.call.phase.name, "ending");
  await c.clock.advance(1100);
  assert.equal(await finalOutcome(c), "agent_hung_up");
});

Deno.test("call: without REST, hanging up closes the stream after the goodbye", async () => {
  const c = setup();
  c.call.start();
  const r = c.session.startResponse();
  await c.session.speak(r, 1000, "Bye.");
  c.session.callFunction(r, "end_call", { reason: "done" });
  c.session.finishResponse(r);
  await c.clock.until(() => c.stream.closed, 5000);
  assert.ok(c.clock.now() >= 1000);
  assert.equal(await finalOutcome(c), "agent_hung_up");
});

Deno.test("call: marks never echoed: the hang-up still happens by the drain deadline", async () => {
  const c = setup({ echoMarks: false });
  c.call.start();
  const r = c.session.startResponse();
  await c.session.speak(r, 1000, "Bye.");
  c.session.callFunction(r, "end_call", { reason: "done" });
  c.session.finishResponse(r);
  await c.clock.until(() => c.stream.closed, 10_000);
  assert.ok(c.clock.now() >= 1000 && c.clock.now() <= 5000, `closed at ${c.clock.now()} ms`);
  assert.equal(await finalOutcome(c), "agent_hung_up");
});

Deno.test("call: the model gone mid-call: apology, then hang-up, outcome model_unavailable", async () => {
  const c = setup();
  c.call.start();
  const r = c.session.startResponse();
  await c.session.speak(r, 2000);
  await c.clock.advance(300);
  c.session.fail();
  assert.ok(c.stream.sent.some((s) => s.kind === "clear"), "the cut-off answer is cleared");
  const apology = c.stream.sent.filter((s) => s.kind === "media" && s.at === c.clock.now());
  assert.equal(apology.reduce((n, s) => n + (s.kind === "media" ? s.bytes : 0), 0), 8000);
  await c.clock.until(() => c.stream.closed, 10_000);
  assert.ok(c.stream.playedMs() >= 1290, "the whole apology played before the hang-up");
  assert.equal(await finalOutcome(c), "model_unavailable");
});

Deno.test("call: the model gone with a transfer number: apology, then REST transfer", async () => {
  const c = setup({ control: true, transferNumber: "+15557770000" });
  c.call.start();
  c.session.fail();
  await c.clock.until(() => c.control!.requests.length > 0, 10_000);
  assert.equal(c.control!.requests[0].kind, "transfer");
  assert.ok(c.control!.requests[0].playedMs >= 990);
  c.stream.hangUp();
  assert.equal(await finalOutcome(c), "transferred");
});

Deno.test("call: the caller hangs up during the apology: model_unavailable, no transfer", async () => {
  const c = setup({ control: true, transferNumber: "+15557770000" });
  c.call.start();
  c.session.fail();
  await c.clock.advance(300);
  c.stream.hangUp();
  assert.equal(await finalOutcome(c), "model_unavailable");
  assert.equal(c.control!.requests.length, 0);
});

Deno.test("call: a model not ready in time gets the apology", async () => {
  const c = setup({ sessionState: "idle" });
  c.call.start();
  assert.equal(c.session.state, "connecting");
  await c.clock.advance(2400);
  assert.equal(c.stream.sent.length, 0);
  await c.clock.advance(200);
  assert.equal(c.session.state, "closed");
  assert.ok(c.stream.sent.some((s) => s.kind === "media"), "apology");
  await c.clock.until(() => c.stream.closed, 5000);
  assert.equal(await finalOutcome(c), "model_unavailable");
});

Deno.test("call: a model that opens late (within the limit) greets then", async () => {
  const c = setup({ sessionState: "idle" });
  c.call.start();
  await c.clock.advance(1500);
  c.session.open();
  await c.clock.advance(10);
  assert.equal(c.call.phase.name, "live");
  assert.equal(c.session.creates.length, 1, "greeting");
  await c.clock.advance(2000);
  assert.equal(c.session.state, "open", "the readiness timer was cancelled");
  c.stream.hangUp();
  assert.equal(await finalOutcome(c), "caller_hung_up");
});

Deno.test("call: a silent caller is checked on, then let go with a goodbye", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(1000, "Hello!");
  await c.clock.advance(15_500);
  assert.deepEqual(c.session.texts.map((t) => t.role), ["system"]);
  assert.match(c.session.texts[0].text, /still there/);
  await c.session.reply(1000, "Are you still there?");
  await c.clock.advance(20_000);
  assert.equal(c.call.phase.name, "live", "no give-up before idleHangupMs");
  await c.clock.advance(10_000);
  assert.equal(c.call.phase.name, "ending");
  assert.match(c.session.texts[1].text, /no longer there/);
  await c.session.reply(800, "Goodbye.");
  await c.clock.until(() => c.stream.closed, 5000);
  const outcome = await finalOutcome(c);
  assert.equal(outcome, "agent_hung_up");
  const notes = c.records.at(-1)!.transcript.filter((e) => e.role === "system").map((e) => e.text);
  assert.deepEqual(notes, ["caller silent: check-in", "wrap-up: idle"]);
});

Deno.test("call: caller speech resets the idle road; the check-in does not", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(500, "Hello!");
  await c.clock.advance(14_000);
  c.session.speechStarted();
  c.session.speechStopped("I'm thinking.");
  await c.clock.advance(14_000);
  assert.equal(c.session.texts.length, 0, "no check-in: the caller spoke 14 s ago");
  await c.clock.advance(2000);
  assert.equal(c.session.texts.length, 1);
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("call: key presses in quick succession become one message and one note", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(200, "Hello!"); // the greeting
  for (const d of ["1", "2", "3"]) {
    c.stream.dtmf(d);
    await c.clock.advance(200);
  }
  assert.equal(c.session.texts.length, 0);
  await c.clock.advance(700);
  assert.deepEqual(c.session.texts, [{ role: "user", text: "(caller pressed 1 2 3)" }]);
  assert.equal(c.session.creates.length, 2, "greeting + one response to the keys");
  c.stream.hangUp();
  const record = await c.call.done;
  const mentions = record.transcript.filter((e) => e.text.includes("pressed"));
  assert.deepEqual(mentions.map((e) => [e.role, e.text]), [["system", "caller pressed 1 2 3"]]);
});

Deno.test("call: a stream that ended before the call started finishes it at once", async () => {
  const c = setup();
  c.stream.hangUp(); // stop + close held by the stream until the call attaches
  c.call.start();
  assert.equal(c.call.phase.name, "finished");
  assert.equal(c.session.creates.length, 0, "no greeting to a dead line");
  assert.equal(await finalOutcome(c), "caller_hung_up");
  assert.equal(c.clock.pendingTimers, 0, "nothing left running");
});

Deno.test("call: max duration wraps up, and the wrap-up is a hard stop", async () => {
  const c = setup({ limits: { maxCallMs: 10_000, endingGraceMs: 5000 } });
  c.call.start();
  await c.session.reply(300, "Hello!");
  await c.clock.advance(10_000);
  assert.equal(c.call.phase.name, "ending");
  assert.match(c.session.texts.at(-1)!.text, /time limit/);
  // The goodbye never comes: the call ends anyway at the grace.
  await c.clock.advance(5100);
  assert.equal(await finalOutcome(c), "agent_hung_up");
});

Deno.test("call: once ending, state-changing tools are not run", async () => {
  const log: string[] = [];
  const clock = new VirtualClock();
  const c = setup({ clock, tools: [timedTool("book_slot", clock, 10, log)] });
  c.call.start();
  c.call.wrapUp(); // shutdown: the goodbye is requested
  const r = c.session.startResponse();
  c.session.callFunction(r, "book_slot", { n: 1 });
  c.session.finishResponse(r);
  await c.clock.advance(100);
  assert.deepEqual(log, []);
  assert.deepEqual(c.session.outputs.map((o) => o.output), [
    { status: "not_run", reason: "the call is ending" },
  ]);
  assert.match(c.session.texts.at(-1)!.text, /close now for maintenance/);
  await c.session.reply(500, "We have to close the line now, goodbye."); // the deferred goodbye
  await c.clock.until(() => c.stream.closed, 5000);
  assert.equal(await finalOutcome(c), "shutdown");
});

Deno.test("call: the record is saved after each tool call, not only at the end", async () => {
  const clock = new VirtualClock();
  const c = setup({ clock, tools: [timedTool("lookup", clock, 0, [])] });
  c.call.start();
  await c.clock.advance(10);
  const saves = c.records.length;
  const r = c.session.startResponse();
  c.session.callFunction(r, "lookup", { n: 1 });
  c.session.finishResponse(r);
  await c.clock.advance(10);
  assert.equal(c.records.length, saves + 1);
  assert.equal(c.records.at(-1)!.outcome, "in_progress");
  assert.equal(c.records.at(-1)!.toolCalls.length, 1);
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("call: a model that goes silent while a response is due is treated as gone", async () => {
  const c = setup();
  c.call.start();
  c.session.stall(); // the connection saw no server event for its stall window
  assert.equal(c.session.state, "closed");
  await c.clock.until(() => c.stream.closed, 5000);
  assert.ok(c.stream.playedMs() >= 990, "the apology played");
  assert.equal(await finalOutcome(c), "model_unavailable");
});

Deno.test("call: a model drop mid-call: a hold phrase at once, the apology within 3 s", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(500, "Hello!");
  await c.clock.advance(600);
  const sentBefore = c.stream.sent.filter((s) => s.kind === "media").length;
  c.session.drop();
  const hold = c.stream.sent.filter((s) => s.kind === "media").slice(sentBefore);
  assert.equal(hold.reduce((n, s) => n + (s.kind === "media" ? s.bytes : 0), 0), 1600);
  await c.clock.advance(2400);
  assert.equal(c.session.state, "reconnecting", "still waiting for the model");
  await c.clock.advance(200);
  assert.equal(c.session.state, "closed", "given up at 2.5 s");
  const apologyAt = c.stream.sent.findIndex((s, i) =>
    i > sentBefore + hold.length - 1 &&
    s.kind === "media" && s.bytes === 8000
  );
  assert.ok(apologyAt > 0, "the apology followed");
  assert.ok(c.stream.sent[apologyAt].at - 600 <= 3000, "within 3 s of the drop");
  await c.clock.until(() => c.stream.closed, 5000);
  assert.equal(await finalOutcome(c), "model_unavailable");
});

Deno.test("call: a model that comes back in time: hold phrase, then the call goes on", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(300, "Hello!");
  c.session.drop();
  await c.clock.advance(1000);
  c.session.back();
  await c.clock.advance(3000);
  assert.equal(c.session.state, "open");
  assert.equal(c.call.phase.name, "live");
  c.stream.hangUp();
  assert.equal(await finalOutcome(c), "caller_hung_up");
});

Deno.test("call: a text-only reply is asked again aloud once; a second one means the apology", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(300, "Hello!");
  c.session.speechStarted();
  c.session.speechStopped("Do you have time on Friday?");
  const r1 = c.session.startResponse(true); // the server's own reply to the caller
  c.session.writeText(r1, "Yes, at ten.");
  c.session.finishResponse(r1);
  const reask = c.session.creates.at(-1)!;
  assert.match(String(reask.options?.instructions), /aloud/);
  assert.equal(c.session.state, "open");
  const r2 = c.session.startResponse();
  c.session.writeText(r2, "Yes, at ten.");
  c.session.finishResponse(r2);
  assert.equal(c.session.state, "closed", "the model is not usable here");
  await c.clock.until(() => c.stream.closed, 5000);
  assert.equal(await finalOutcome(c), "model_unavailable");
});

Deno.test("call: a spoken reply between text-only ones resets the count", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(300, "Hello!");
  const r1 = c.session.startResponse(true);
  c.session.writeText(r1, "Text only.");
  c.session.finishResponse(r1);
  await c.session.reply(300, "Now aloud."); // answers the re-ask
  const r3 = c.session.startResponse(true);
  c.session.writeText(r3, "Text only again.");
  c.session.finishResponse(r3);
  assert.equal(c.session.state, "open", "one text-only reply after a spoken one is re-asked");
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("call: tool calls come from the completed output item, even without a name on the arguments event", async () => {
  const log: string[] = [];
  const clock = new VirtualClock();
  const c = setup({ clock, tools: [timedTool("lookup", clock, 10, log)] });
  c.call.start();
  await c.session.reply(200, "Hello!");
  const r = c.session.startResponse(true);
  c.session.callFunction(r, "lookup", { n: 1 }); // arguments event has no `name`
  c.session.finishResponse(r);
  await c.clock.advance(50);
  assert.deepEqual(log, ["start lookup 1 @0", "end lookup 1 @10"]);
});

Deno.test("call: a tool call whose output item never came is taken from response.done", async () => {
  const log: string[] = [];
  const clock = new VirtualClock();
  const c = setup({ clock, tools: [timedTool("lookup", clock, 10, log)] });
  c.call.start();
  await c.session.reply(200, "Hello!");
  const r = c.session.startResponse(true);
  c.session.callFunction(r, "lookup", { n: 2 }, false); // no response.output_item.done
  c.session.finishResponse(r); // but its output lists the call
  await c.clock.advance(50);
  assert.equal(log.length, 2, "the call ran once");
  assert.equal(c.session.outputs.length, 1);
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("call: the greeting is dropped when the server already answers the caller's first words", async () => {
  const c = setup({ sessionState: "idle" });
  c.call.start();
  c.session.open();
  await c.clock.advance(1);
  // Greeting requested; the server refuses it: its own VAD response came first.
  c.session.startResponse(true);
  c.session.reject("conversation_already_has_active_response");
  assert.equal(c.session.creates.length, 1, "only the greeting was ever sent");
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("call: a caller who speaks after the check-in starts the silence road over", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(500, "Hello!");
  await c.clock.advance(15_500);
  assert.equal(c.session.texts.length, 1, "the check-in");
  await c.session.reply(800, "Are you still there?");
  await c.clock.advance(2000);
  c.session.speechStarted();
  c.session.speechStopped("Yes, sorry, I'm here.");
  await c.session.reply(600, "No problem.");
  // Silence again: another check-in after the full check-in delay, not the give-up.
  await c.clock.advance(15_900);
  assert.equal(c.call.phase.name, "live");
  assert.deepEqual(c.session.texts.map((t) => /still there/.test(t.text)), [true, true]);
  c.stream.hangUp();
  await c.call.done;
});

Deno.test("call: a stream ended here (no media, a flood) is an error, not a caller hang-up", async () => {
  const c = setup();
  c.call.start();
  await c.session.reply(300, "Hello!");
  c.stream.endHere("media_timeout");
  assert.equal(await finalOutcome(c), "error");
  const notes = c.records.at(-1)!.transcript.filter((e) => e.role === "system").map((e) => e.text);
  assert.ok(notes.includes("media stream ended: media_timeout"));
});
