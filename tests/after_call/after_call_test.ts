/**
 * The after-call step on its own, in virtual time, against a scripted model session: the
 * out-of-band request has the GA shape the strict fake accepts (conversation "none", text,
 * the conversation's items referenced); the answer is parsed and its claims checked; a
 * malformed answer, a refusal, a session gone and a model that never answers each leave
 * "no summary" and why, within the timeout; live findings and the flag reach the record.
 */
import assert from "node:assert/strict";
import { AfterCall, type PromisesRecord } from "../../src/after_call/after_call.ts";
import type { SummaryRecord } from "../../src/after_call/summary_schema.ts";
import { parseSummaryAnswer } from "../../src/after_call/summary_schema.ts";
import type { OutOfBandSession } from "../../src/after_call/summary_request.ts";
import type { ConnectionEvents, ConnectionState } from "../../src/realtime/connection.ts";
import type { ServerEvent } from "../../src/realtime/protocol.ts";
import type { Booking } from "../../src/booking/types.ts";
import { Emitter } from "../../src/events.ts";
import { logger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics.ts";
import { VirtualClock } from "../support/virtual_clock.ts";
import { ClientEventSchema } from "../../scripts/sim/fake_realtime.ts";
import { testProfile } from "../booking/fixtures.ts";

const profile = testProfile();

/** A model session the test scripts: records what is sent, emits what the test says. */
class ScriptedSession implements OutOfBandSession {
  state: ConnectionState = "open";
  readonly sent: Record<string, unknown>[] = [];
  readonly #events = new Emitter<ConnectionEvents>((_n, e) => {
    throw e;
  });
  send(text: string): boolean {
    if (this.state !== "open") return false;
    this.sent.push(JSON.parse(text));
    return true;
  }
  on<K extends keyof ConnectionEvents>(name: K, fn: (...a: ConnectionEvents[K]) => void) {
    return this.#events.on(name, fn);
  }
  emit(e: ServerEvent): void {
    this.#events.emit("event", e);
  }
  setState(next: ConnectionState): void {
    const previous = this.state;
    this.state = next;
    this.#events.emit("state", next, previous);
  }
  /** The server answers the last response.create out of band with `text`. */
  answer(text: string, status = "completed"): void {
    const request = this.sent.at(-1) as { response: { metadata: Record<string, string> } };
    const response = { id: "resp_oob", status: "in_progress", metadata: request.response.metadata };
    this.emit({ type: "response.created", response });
    this.emit({
      type: "response.done",
      response: {
        ...response,
        status,
        output: [{
          id: "item_oob",
          type: "message",
          role: "assistant",
          content: [{ type: "output_text", text }],
        }],
      },
    });
  }
}

const twoPm: Booking = {
  id: "K7M4QX",
  serviceId: "mens-cut",
  serviceName: "Men's cut",
  start: "2026-03-03T14:00:00-05:00",
  end: "2026-03-03T14:30:00-05:00",
  label: "Tuesday 3 March at 2:00 PM",
  customerName: "Sam",
  customerPhone: "+15550001111",
  status: "confirmed",
  callSid: "CA1",
  idempotencyKey: "CA1:call_1",
  createdAt: "2026-03-02T12:00:00Z",
  updatedAt: "2026-03-02T12:00:00Z",
};

function setup(o: { enabled?: boolean; bookings?: Booking[] | Error } = {}) {
  const clock = new VirtualClock(Date.UTC(2026, 2, 2, 17, 0));
  const session = new ScriptedSession();
  const metrics = new Metrics();
  const after = new AfterCall({
    session,
    bookings: () =>
      o.bookings instanceof Error
        ? Promise.reject(o.bookings)
        : Promise.resolve(o.bookings ?? [twoPm]),
    profile: () => profile,
    summary: { enabled: o.enabled ?? true, timeoutMs: 10_000 },
    clock,
    now: () => Temporal.Instant.fromEpochMilliseconds(clock.wallNow()),
    metrics,
    log: logger("test", "after"),
  });
  const annotations: Record<string, unknown> = {};
  const controller = new AbortController();
  const run = () =>
    after.run({
      reason: "caller_hung_up",
      outcome: "booked",
      signal: controller.signal,
      annotate: (k, v) => annotations[k] = v,
    });
  return { clock, session, metrics, annotations, run };
}

const answer = (claims: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    summary: "Sam booked a men's cut for Tuesday.",
    intent: "book a haircut",
    outcome: "booked",
    follow_up: { needed: false, reason: null },
    claims,
    ...extra,
  });

async function metric(metrics: Metrics, name: string, labels: Record<string, string> = {}) {
  const text = await metrics.render();
  const re = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm");
  let sum = 0;
  for (const m of text.matchAll(re)) {
    if (Object.entries(labels).every(([k, v]) => (m[1] ?? "").includes(`${k}="${v}"`))) {
      sum += Number(m[2]);
    }
  }
  return sum;
}

Deno.test("after call: one out-of-band request of the GA shape, referencing the conversation's items", async () => {
  const c = setup();
  for (const id of ["item_a", "item_b", "item_c"]) {
    c.session.emit({
      type: "conversation.item.added",
      item: { id, type: "message", role: "user" },
    });
  }
  c.session.emit({ type: "conversation.item.deleted", item_id: "item_b" });
  const done = c.run();
  await c.clock.advance(10);
  assert.equal(c.session.sent.length, 1);
  const request = c.session.sent[0];
  // The strict fake's schema is the GA client event schema: it accepts the request.
  ClientEventSchema.parse(request);
  const response = (request as { response: Record<string, unknown> }).response;
  assert.equal(response.conversation, "none");
  assert.deepEqual(response.output_modalities, ["text"]);
  assert.equal(response.tool_choice, "none");
  assert.match(String(response.instructions), /Test Salon.*2026-03-02.*America\/New_York/s);
  const input = response.input as { type: string; id?: string; role?: string }[];
  assert.deepEqual(input.slice(0, 2), [
    { type: "item_reference", id: "item_a" },
    { type: "item_reference", id: "item_c" },
  ]);
  assert.equal(input[2].type, "message");
  assert.equal(input[2].role, "user");
  c.session.answer(
    answer([{ type: "booking", service: "Men's cut", date: "2026-03-03", time: "14:00" }]),
  );
  await done;
  const summary = c.annotations.summary as SummaryRecord;
  assert.equal(summary.status, "ok");
  assert.equal(summary.text, "Sam booked a men's cut for Tuesday.");
  assert.deepEqual(summary.followUp, { needed: false });
  const promises = c.annotations.promises as PromisesRecord;
  assert.equal(promises.verified, 1);
  assert.equal(promises.checked[0].source, "summary");
  assert.equal(c.annotations.flagged, false);
  assert.equal(await metric(c.metrics, "voice_call_summaries_total", { result: "ok" }), 1);
  assert.equal(
    await metric(c.metrics, "voice_promise_checks_total", { kind: "booking", result: "verified" }),
    1,
  );
});

Deno.test("after call: a claim that does not match flags the call, with what the database says", async () => {
  const c = setup();
  const done = c.run();
  await c.clock.advance(10);
  c.session.answer(answer([
    { type: "booking", service: "Men's cut", date: "2026-03-03", time: "15:00" },
    { type: "price", service: "Men's cut", amount: 35, currency: "USD" },
    { type: "hours", day: "tuesday", open: "09:00", close: "17:00" },
    { type: "weather", sunny: true },
  ]));
  await done;
  const promises = c.annotations.promises as PromisesRecord;
  assert.deepEqual(promises.checked.map((p) => [p.kind, p.status]), [
    ["booking", "mismatch"],
    ["price", "mismatch"],
    ["hours", "verified"],
    ["other", "unverifiable"],
  ]);
  assert.match(promises.checked[0].truth!, /2026-03-03 at 14:00/);
  assert.equal(promises.checked[1].truth, "Men's cut costs 40 USD");
  assert.equal(promises.mismatches, 2);
  assert.equal(c.annotations.flagged, true);
  assert.equal(await metric(c.metrics, "voice_calls_flagged_total"), 1);
  assert.equal(
    await metric(c.metrics, "voice_promise_checks_total", { result: "mismatch" }),
    2,
  );
});

Deno.test("after call: a malformed answer is recorded as such, never fatal", async () => {
  for (
    const [text, why] of [
      ["Sure! The caller booked a haircut.", /no JSON object/],
      ["{not json", /no JSON object|not valid JSON/],
      ['{"summary": "x", "claims": []}', /intent|outcome|follow_up/],
      ['```json\n{"summary": 7}\n```', /summary/],
    ] as const
  ) {
    const c = setup();
    const done = c.run();
    await c.clock.advance(10);
    c.session.answer(text);
    await done;
    const summary = c.annotations.summary as SummaryRecord;
    assert.equal(summary.status, "malformed", text);
    assert.equal(summary.note, "no summary: the model's answer was malformed");
    assert.equal(summary.raw, text);
    assert.match(summary.error!, why);
    assert.equal(c.annotations.flagged, false);
    assert.equal(await metric(c.metrics, "voice_call_summaries_total", { result: "malformed" }), 1);
  }
  // A fenced, valid answer is fine.
  assert.equal(parseSummaryAnswer("```json\n" + answer([]) + "\n```").record.status, "ok");
});

Deno.test("after call: no answer in time, a refused request, a failed response, a session gone", async () => {
  const timeout = setup();
  const t0 = timeout.clock.now();
  const waiting = timeout.run();
  await timeout.clock.until(() => timeout.annotations.summary !== undefined, 20_000, 100);
  await waiting;
  assert.equal((timeout.annotations.summary as SummaryRecord).status, "timeout");
  const took = timeout.clock.now() - t0;
  assert.ok(took >= 8900 && took <= 9100, `gave up after ${took} ms (10 s less 1 s for the rest)`);

  const refused = setup();
  const r = refused.run();
  await refused.clock.advance(10);
  const eventId = refused.session.sent[0].event_id as string;
  refused.session.emit({
    type: "error",
    error: {
      type: "invalid_request_error",
      code: "invalid_value",
      message: "nope",
      event_id: eventId,
    },
  });
  await r;
  assert.deepEqual(refused.annotations.summary, {
    status: "failed",
    note: "no summary: the model refused or did not finish",
    error: "invalid_value: nope",
  });

  const failed = setup();
  const f = failed.run();
  await failed.clock.advance(10);
  failed.session.answer(answer([]), "failed");
  await f;
  assert.equal((failed.annotations.summary as SummaryRecord).status, "failed");

  const dropped = setup();
  const d = dropped.run();
  await dropped.clock.advance(10);
  dropped.session.setState("reconnecting");
  await d;
  assert.deepEqual(dropped.annotations.summary, {
    status: "unavailable",
    note: "no summary: the model session reconnecting before answering",
  });

  const closed = setup();
  closed.session.state = "closed";
  await closed.run();
  assert.deepEqual(closed.annotations.summary, {
    status: "unavailable",
    note: "no summary: the model session had closed",
  });
  assert.equal(closed.session.sent.length, 0);
  assert.equal((closed.annotations.promises as PromisesRecord).checked.length, 0);
});

Deno.test("after call: the live check's findings reach the record; SUMMARY=off asks nothing", async () => {
  const c = setup({ enabled: false, bookings: [] });
  c.session.emit({
    type: "response.output_audio_transcript.done",
    response_id: "r1",
    item_id: "i1",
    transcript: "Perfect, you're booked for 3 PM on Tuesday.",
  });
  await c.clock.advance(10);
  await c.run();
  assert.equal(c.session.sent.length, 0);
  assert.deepEqual(c.annotations.summary, { status: "off", note: "no summary: SUMMARY=off" });
  const promises = c.annotations.promises as PromisesRecord;
  assert.equal(promises.checked.length, 1);
  assert.deepEqual(promises.checked[0].claim, {
    quote: "Perfect, you're booked for 3 PM on Tuesday.",
    time: "15:00",
  });
  assert.equal(promises.checked[0].source, "live");
  assert.equal(promises.checked[0].status, "mismatch");
  assert.equal(promises.checked[0].truth, "no confirmed booking was made in this call");
  assert.equal(c.annotations.flagged, true);
  assert.equal(
    await metric(c.metrics, "voice_promise_checks_total", { kind: "live_booking" }),
    1,
  );
});

Deno.test("after call: a database that does not answer leaves booking claims unverifiable", async () => {
  const c = setup({ bookings: new Error("connection refused") });
  const done = c.run();
  await c.clock.advance(10);
  c.session.answer(answer([
    { type: "booking", service: "Men's cut", date: "2026-03-03", time: "14:00" },
    { type: "price", service: "Men's cut", amount: 40 },
  ]));
  await done;
  const promises = c.annotations.promises as PromisesRecord;
  assert.deepEqual(promises.checked.map((p) => p.status), ["unverifiable", "verified"]);
  assert.match(promises.checked[0].truth!, /connection refused/);
  assert.equal(c.annotations.flagged, false);
});
