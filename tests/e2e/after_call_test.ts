/**
 * After the call, end to end: the real service, the strict fake model (out-of-band text
 * answers), the fake Twilio caller speaking real speech, SQLite and PostgreSQL, pcmu and
 * pcm16.
 *
 * - A recorded booking call: the greeting starts with the disclosure; the summary is stored
 *   with every claim verified; the recording is on disk (0600, two channels, the caller's
 *   speech at its offsets, as long as the call).
 * - A barge-in call, recorded: the agent channel ends where the truncation says.
 * - "You're booked for 3 PM" after a 2 PM booking, and a wrong price: mismatch, flagged,
 *   metric moved, a warning at once (live) and after the call.
 * - The model session dying before the summary: "no summary", nothing else lost.
 * - Shutdown: a summary the model never answers does not hold the drain window.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { resetLogging, setupLogging } from "../../src/log.ts";
import { decodeMulaw } from "../../src/codec/mulaw.ts";
import { DEFAULT_RECORDING_DISCLOSURE } from "../../src/booking/business.ts";
import type { PromisesRecord } from "../../src/after_call/after_call.ts";
import type { SummaryRecord } from "../../src/after_call/summary_schema.ts";
import type { RecordingInfo } from "../../src/recording/call_recording.ts";
import type { TwilioCaller } from "../../src/sim/twilio_caller.ts";
import type { OutOfBandResponder, Responder } from "../../scripts/sim/fake_realtime.ts";
import { pgAvailable } from "../booking/pg_test_db.ts";
import { openStore } from "../../src/booking/store.ts";
import { findOffset, readStereoWav, soundSpans } from "../support/audio_match.ts";
import {
  type Harness,
  type HarnessOptions,
  nextOpenDate,
  speech,
  startHarness,
  waitUntil,
  withSilence,
} from "../support/harness.ts";

const PG = await pgAvailable();
const DATABASES = ["sqlite", "postgres"] as const;
const FORMATS = ["pcmu", "pcm16"] as const;
type Database = typeof DATABASES[number];
type Format = typeof FORMATS[number];

/** 14:00 on the next open day, as the booking tools write starts. */
function twoPm(h: Harness): { date: string; start: string } {
  const date = nextOpenDate(h.app.profile);
  const start = Temporal.PlainDateTime.from(`${date}T14:00`)
    .toZonedDateTime(h.app.profile.timeZone)
    .toString({ timeZoneName: "never" });
  return { date, start };
}

/**
 * A model that greets as told, books `start` for the caller's first turn, then says
 * `confirm(result)`.
 */
function booksAt(start: string, confirm: (out: Record<string, unknown>) => string): Responder {
  return (ctx) => {
    if (ctx.trigger === "response.create" && ctx.instructions?.includes("Greet the caller")) {
      return {
        audioMs: 1500,
        transcript: /saying exactly: "(.+)"/s.exec(ctx.instructions)?.[1] ?? "Hello.",
      };
    }
    const last = ctx.lastItem;
    if (last?.type === "function_call_output") {
      return { audioMs: 1500, transcript: confirm(JSON.parse(last.output ?? "{}")) };
    }
    if (last?.role === "user") {
      return {
        functionCalls: [{
          name: "book_slot",
          arguments: JSON.stringify({ service: "men's cut", start, customer_name: "Sam Rivera" }),
        }],
      };
    }
    return { audioMs: 500, transcript: "Okay." };
  };
}

/** The summary a model would write, with these claims. */
function summaryWith(claims: Record<string, unknown>[]): OutOfBandResponder {
  return () => ({
    text: JSON.stringify({
      summary: "Sam called about a men's cut.",
      intent: "book a men's cut",
      outcome: "booked",
      follow_up: { needed: false, reason: null },
      claims,
    }),
  });
}

function harness(db: Database, format: Format, o: HarnessOptions = {}): Promise<Harness> {
  return startHarness({
    ...o,
    database: db,
    env: { AUDIO_FORMAT: format, VAD_SILENCE_MS: "900", ...o.env },
    fake: { transcripts: ["I'd like a men's cut, please."], ...o.fake },
  });
}

/** When the simulated caller's media stream started (`dial` resolves right after `start`). */
const dialedAt = new WeakMap<TwilioCaller, number>();
/** When it hung up. */
const hungUpAt = new WeakMap<TwilioCaller, number>();

async function dial(h: Harness, audio: Uint8Array): Promise<TwilioCaller> {
  const caller = await h.dial({ audio });
  dialedAt.set(caller, performance.now());
  return caller;
}

async function hangUp(caller: TwilioCaller): Promise<void> {
  hungUpAt.set(caller, performance.now());
  await caller.hangUp();
}

/**
 * How long the call lasted for the caller: from the stream's start to the hang-up. The
 * simulated caller sends each 20 ms frame as its interval begins (Twilio sends it once
 * captured, 20 ms later), so its stream looks 20 ms older than it is.
 */
function streamMs(caller: TwilioCaller): number {
  return hungUpAt.get(caller)! - dialedAt.get(caller)! + 20;
}

/** Speaks the request, waits for `said` to have been played to the caller, hangs up. */
async function callUntil(h: Harness, said: RegExp): Promise<TwilioCaller> {
  const caller = await dial(h, withSilence(2500, speech("caller_book_haircut")));
  await waitUntil(
    () => h.fake.sessions[0]?.items.some((i) => said.test(i.text ?? "")) ?? false,
    25_000,
    `the agent saying ${said}`,
  );
  await waitUntil(() => playedAll(caller), 10_000, "the words played");
  await hangUp(caller);
  return caller;
}

/** The caller has heard all the agent audio sent (none arrived for 300 ms), less what a clear dropped. */
function playedAll(caller: TwilioCaller): boolean {
  const received = caller.receivedAudio().length;
  const state = quiet.get(caller) ?? { bytes: -1, since: 0 };
  if (state.bytes !== received) quiet.set(caller, { bytes: received, since: performance.now() });
  const dropped = caller.events.reduce((n, e) => n + (e.type === "clear" ? e.droppedMs : 0), 0);
  return performance.now() - (quiet.get(caller)?.since ?? 0) >= 300 &&
    caller.agentAudioMsPlayed >= received / 8 - dropped - 1;
}
const quiet = new WeakMap<TwilioCaller, { bytes: number; since: number }>();

/** The sum of a metric's series with these labels, from `GET /metrics`. */
async function metric(h: Harness, name: string, labels: Record<string, string> = {}) {
  const text = await (await fetch(`${h.app.baseUrl}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "gm"))) {
    if (Object.entries(labels).every(([k, v]) => (m[1] ?? "").includes(`${k}="${v}"`))) {
      sum += Number(m[2]);
    }
  }
  return sum;
}

for (const db of DATABASES) {
  for (const format of FORMATS) {
    Deno.test({
      name: `e2e after call (${db}, ${format}): a recorded booking call: disclosure first, ` +
        "summary with every claim verified, the recording on disk",
      ignore: db === "postgres" && !PG,
      async fn() {
        const h = await harness(db, format, { env: { RECORD_CALLS: "on" } });
        try {
          const { date, start } = twoPm(h);
          h.fake.setResponder(
            booksAt(start, (out) => `You're booked for a men's cut on ${out.label}.`),
          );
          const caller = await callUntil(h, /You're booked/);
          const record = await h.finalRecord(caller.callSid);
          assert.equal(record.outcome, "booked");

          // The caller was told first.
          const greeting = h.fake.sessions[0].clientEvents.find((e) =>
            e.type === "response.create"
          );
          const instructions = (greeting?.response as { instructions: string }).instructions;
          assert.ok(
            instructions.includes(`"${DEFAULT_RECORDING_DISCLOSURE} ${h.app.profile.greeting}"`),
            instructions,
          );

          // The summary, and its claim checked against the database: verified.
          const summary = record.extra?.summary as SummaryRecord;
          assert.equal(summary.status, "ok", JSON.stringify(summary));
          assert.equal(summary.intent, "book an appointment");
          const promises = record.extra?.promises as PromisesRecord;
          assert.ok(promises.checked.length >= 2, JSON.stringify(promises));
          assert.ok(
            promises.checked.every((c) => c.status === "verified"),
            JSON.stringify(promises),
          );
          assert.deepEqual(
            promises.checked.filter((c) => c.source === "summary").map((c) => c.claim),
            [{ type: "booking", service: "Men's cut", date, time: "14:00" }],
          );
          assert.ok(promises.checked.some((c) => c.source === "live"), "the live check ran");
          assert.equal(record.extra?.flagged, false);
          const oob = h.fake.sessions[0].outOfBand;
          assert.equal(oob.length, 1);
          assert.equal(oob[0].status, "completed");
          assert.ok(oob[0].references.length >= 4, "the conversation was referenced");
          assert.deepEqual(h.fake.sessions[0].errors, [], "the model accepted every event");

          // The recording: where the record says, the service user's only, two channels.
          const info = record.extra?.recording as RecordingInfo;
          assert.equal(info.error, undefined);
          assert.ok(info.path.startsWith(join(h.dir, "recordings")), info.path);
          assert.equal((await Deno.stat(info.path)).mode! & 0o777, 0o600);
          const wav = readStereoWav(await Deno.readFile(info.path));
          // As long as the call: from the stream's start (Twilio's timestamp 0) to the hang-up.
          const wavMs = wav.left.length / 8;
          const callMs = streamMs(caller);
          assert.ok(Math.abs(wavMs - callMs) <= 40, `recording ${wavMs} ms, call ${callMs} ms`);
          assert.equal(info.durationMs, Math.round(wavMs));
          assert.ok(info.startedAt <= record.startedAt, "sample 0 is the stream's start");
          // The caller's speech where Twilio's timestamps put it (after 2.5 s of silence).
          const fixture = decodeMulaw(speech("caller_book_haircut"));
          const found = findOffset(wav.left, fixture);
          assert.equal(found.offset, 2500 * 8, `caller speech at ${found.offset / 8} ms`);
          assert.ok(found.score > 0.999, `correlation ${found.score}`);
          // The agent: the greeting and the confirmation, all of both (nothing was cleared).
          const heard = soundSpans(wav.right, 8 * 150).reduce((n, s) => n + s.end - s.start, 0);
          assert.ok(Math.abs(heard / 8 - 3000) <= 40, `agent audio ${heard / 8} ms`);
        } finally {
          await h.close();
        }
      },
    });
  }
}

for (const format of FORMATS) {
  Deno.test(`e2e after call (sqlite, ${format}): a recorded barge-in: the agent channel ends where the truncation says`, async () => {
    const h = await harness("sqlite", format, {
      env: { RECORD_CALLS: "on", VAD_SILENCE_MS: "500" },
      fake: {
        transcripts: ["Actually, wait, can you repeat that?"],
        chunkMs: 100,
        chunkIntervalMs: 50, // twice real time: the caller has a buffer to clear
        responder: (ctx) =>
          ctx.trigger === "response.create"
            ? {
              audioMs: 8000,
              transcript: "Thanks for calling. " + "We have much to say. ".repeat(8),
            }
            : { audioMs: 1000, transcript: "Of course. How can I help?" },
      },
    });
    try {
      const caller = await dial(h, withSilence(2000, speech("caller_repeat_that")));
      await waitUntil(
        () => h.fake.sessions[0]?.items.some((i) => i.text === "Of course. How can I help?"),
        20_000,
        "the answer",
      );
      await waitUntil(() => playedAll(caller), 10_000, "the answer played");
      await hangUp(caller);
      const record = await h.finalRecord(caller.callSid);
      const truncate = h.fake.sessions[0].clientEvents.find((e) =>
        e.type === "conversation.item.truncate"
      );
      const audioEndMs = truncate?.audio_end_ms as number;
      assert.ok(audioEndMs > 1000, `truncated at ${audioEndMs}`);

      const info = record.extra?.recording as RecordingInfo;
      assert.equal(info.lateCutMs, 0);
      const wav = readStereoWav(await Deno.readFile(info.path));
      const spans = soundSpans(wav.right, 8 * 150);
      assert.equal(spans.length, 2, JSON.stringify(spans));
      const greetingMs = (spans[0].end - spans[0].start) / 8;
      assert.ok(
        Math.abs(greetingMs - audioEndMs) <= 20,
        `the agent channel holds ${greetingMs} ms of the greeting, the truncation says ${audioEndMs} ms`,
      );
      assert.ok(Math.abs((spans[1].end - spans[1].start) / 8 - 1000) <= 20, "the whole answer");
      const found = findOffset(wav.left, decodeMulaw(speech("caller_repeat_that")));
      assert.equal(found.offset, 2000 * 8, `caller speech at ${found.offset / 8} ms`);
      assert.ok(found.score > 0.999);
      const callMs = streamMs(caller);
      assert.ok(
        Math.abs(wav.left.length / 8 - callMs) <= 40,
        `recording ${wav.left.length / 8} ms, call ${callMs} ms`,
      );
      // The caller stopped hearing the greeting when they spoke over it (VAD after 40 ms of speech).
      const spokeAt = found.offset / 8;
      const cutAt = spans[0].end / 8;
      assert.ok(
        cutAt > spokeAt && cutAt < spokeAt + 700,
        `cut at ${cutAt} ms, spoke at ${spokeAt}`,
      );
    } finally {
      await h.close();
    }
  });
}

const MISMATCH_RUNS: [Database, Format][] = [["sqlite", "pcmu"], ["postgres", "pcm16"]];

for (const [db, format] of MISMATCH_RUNS) {
  Deno.test({
    name: `e2e after call (${db}, ${format}): "you're booked for 3 PM" after a 2 PM booking ` +
      "is a mismatch: flagged, metric moved, logged at once",
    ignore: db === "postgres" && !PG,
    async fn() {
      const lines: string[] = [];
      await setupLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
      const h = await harness(db, format);
      try {
        const { date, start } = twoPm(h);
        h.fake.setResponder(booksAt(start, () => "You're booked for a men's cut at 3 PM."));
        h.fake.setOutOfBand(summaryWith([
          { type: "booking", service: "Men's cut", date, time: "15:00", quote: "at 3 PM" },
        ]));
        const caller = await callUntil(h, /3 PM/);
        // The live check warned while the call was still going.
        const liveWarning = () =>
          lines.map((l) => JSON.parse(l)).find((l) => /database disagrees/.test(l.message));
        await waitUntil(() => liveWarning() !== undefined, 5000, "the live warning");
        assert.equal(liveWarning().callSid, caller.callSid);
        assert.match(liveWarning().level, /^warn/i);

        const record = await h.finalRecord(caller.callSid);
        assert.equal(record.outcome, "booked");
        assert.equal(record.extra?.flagged, true);
        const promises = record.extra?.promises as PromisesRecord;
        const summaryClaim = promises.checked.find((c) => c.source === "summary")!;
        assert.equal(summaryClaim.status, "mismatch");
        assert.match(summaryClaim.truth!, new RegExp(`Men's cut on ${date} at 14:00`));
        const live = promises.checked.find((c) => c.source === "live")!;
        assert.equal(live.status, "mismatch");
        assert.equal((live.claim as { time: string }).time, "15:00");
        assert.equal(promises.mismatches, 2);
        assert.equal(await metric(h, "voice_calls_flagged_total"), 1);
        assert.equal(
          await metric(h, "voice_promise_checks_total", { kind: "booking", result: "mismatch" }),
          1,
        );
        assert.equal(
          await metric(h, "voice_promise_checks_total", {
            kind: "live_booking",
            result: "mismatch",
          }),
          1,
        );
        assert.ok(
          lines.some((l) => /call flagged: 2 of the agent's claims/.test(JSON.parse(l).message)),
        );
        // The booking itself is what it is: 2 PM, confirmed.
        const [booking] = await h.app.store.bookingsForCall(caller.callSid);
        assert.equal(booking.start, start);
      } finally {
        await h.close();
        await resetLogging();
      }
    },
  });
}

const PRICE_RUNS: [Database, Format][] = [["sqlite", "pcm16"], ["postgres", "pcmu"]];

for (const [db, format] of PRICE_RUNS) {
  Deno.test({
    name:
      `e2e after call (${db}, ${format}): a price quoted wrong is a mismatch with the profile's price`,
    ignore: db === "postgres" && !PG,
    async fn() {
      const h = await harness(db, format, {
        fake: {
          transcripts: ["How much is a men's cut?"],
          responder: (ctx) =>
            ctx.trigger === "response.create"
              ? { audioMs: 1500, transcript: "Hello, how can I help?" }
              : { audioMs: 1200, transcript: "A men's cut is thirty dollars." },
          outOfBand: summaryWith([
            { type: "price", service: "Men's cut", amount: 30, currency: "USD" },
            { type: "hours", day: "saturday", open: "09:00", close: "16:00" },
          ]),
        },
      });
      try {
        const caller = await callUntil(h, /thirty dollars/);
        const record = await h.finalRecord(caller.callSid);
        const promises = record.extra?.promises as PromisesRecord;
        assert.deepEqual(
          promises.checked.map((c) => [c.kind, c.status, c.truth]),
          [
            ["price", "mismatch", "Men's cut costs 40 USD"],
            ["hours", "verified", "Saturday: 09:00-16:00"],
          ],
        );
        assert.equal(record.extra?.flagged, true);
        assert.equal(
          await metric(h, "voice_promise_checks_total", { kind: "price", result: "mismatch" }),
          1,
        );
        assert.equal(await metric(h, "voice_calls_flagged_total"), 1);
        // The console's list shows it flagged (the same store query it uses).
        const page = await h.app.store.listCalls({ limit: 5 });
        assert.equal(page.calls[0].flagged, true);
      } finally {
        await h.close();
      }
    },
  });
}

const DYING_RUNS: [Database, Format][] = [["sqlite", "pcmu"], ["postgres", "pcm16"]];

for (const [db, format] of DYING_RUNS) {
  Deno.test({
    name: `e2e after call (${db}, ${format}): the model session dying before the summary: ` +
      '"no summary", nothing else lost',
    ignore: db === "postgres" && !PG,
    async fn() {
      const h = await harness(db, format, {
        env: { RECORD_CALLS: "on" },
        fake: { outOfBand: () => ({ drop: true }) },
      });
      try {
        const { start } = twoPm(h);
        h.fake.setResponder(booksAt(start, (out) => `You're booked, reference ${out.booking_id}.`));
        const caller = await callUntil(h, /You're booked/);
        const record = await h.finalRecord(caller.callSid);
        const summary = record.extra?.summary as SummaryRecord;
        assert.equal(summary.status, "unavailable");
        assert.match(summary.note!, /^no summary: the model session .* before answering$/);
        assert.equal(h.fake.sessions[0].outOfBand[0].status, "dropped");
        // Nothing else lost: outcome, transcript, tools, booking, live check, recording.
        assert.equal(record.outcome, "booked");
        assert.deepEqual(record.toolCalls.map((t) => t.name), ["book_slot"]);
        assert.ok(record.transcript.some((t) => t.role === "caller"));
        assert.ok(record.transcript.some((t) => /You're booked/.test(t.text)));
        const promises = record.extra?.promises as PromisesRecord;
        assert.deepEqual(promises.checked.map((c) => [c.source, c.status]), [["live", "verified"]]);
        assert.equal(record.extra?.flagged, false);
        const info = record.extra?.recording as RecordingInfo;
        assert.ok((info.durationMs ?? 0) > 3000);
        assert.equal(
          (await h.app.store.bookingsForCall(caller.callSid))[0].status,
          "confirmed",
        );
        assert.equal(await metric(h, "voice_call_summaries_total", { result: "unavailable" }), 1);
      } finally {
        await h.close();
      }
    },
  });
}

Deno.test("e2e after call: on shutdown, a summary the model never gives does not hold the drain window", async () => {
  const h = await harness("sqlite", "pcmu", {
    env: { DRAIN_SECONDS: "1", SUMMARY_TIMEOUT_SECONDS: "60" },
    overrides: { goodbyeSeconds: 3 },
    fake: {
      responder: () => ({ audioMs: 600, transcript: "Hello. Goodbye." }),
      outOfBand: () => ({ text: "{}", delayMs: 60_000 }),
    },
  });
  try {
    const caller = await h.dial();
    await waitUntil(() => caller.agentAudioMsPlayed >= 600, 10_000, "the greeting");
    const t0 = performance.now();
    await h.app.stop(); // drain 1 s, then 3 s for goodbyes: the summary may not wait longer
    const took = performance.now() - t0;
    assert.ok(took < 4000, `shutdown took ${Math.round(took)} ms`);
    assert.equal(h.fake.sessions[0].outOfBand[0]?.status, "in_progress", "never answered");
    const store = await openStore(h.config.databaseUrl, h.app.profile);
    try {
      const record = await store.getCall(caller.callSid);
      assert.equal(record?.outcome, "shutdown");
      assert.deepEqual(record?.extra?.summary, {
        status: "timeout",
        note: "no summary: the service shut down before the model answered",
      });
    } finally {
      await store.close();
    }
  } finally {
    await h.close();
  }
});
