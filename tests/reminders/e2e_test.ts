/**
 * Reminder calls end to end, on SQLite and on PostgreSQL: the service places the call through
 * the REST API (the fake records `calls.create` with its answering-machine parameters), the
 * fake Twilio answers it like Twilio would (status callbacks, the signed voice webhook, the
 * media stream with the simulated callee, the asynchronous machine verdict), the fake model
 * follows a reminder script, and the booking and its reminder are checked in the database.
 */
import assert from "node:assert/strict";
import { parseBusinessProfile } from "../../src/booking/business.ts";
import type { Booking } from "../../src/booking/types.ts";
import type { Responder } from "../../scripts/sim/fake_realtime.ts";
import type { CallScript } from "../support/fake_twilio_rest.ts";
import { type Harness, speech, startHarness, waitUntil, withSilence } from "../support/harness.ts";
import {
  bookDaysAgo,
  BUSINESS_FROM,
  customer,
  freshDatabase,
  postgresAvailable,
  reminderEnv,
  reminderProfileFile,
  reminderWhen,
} from "./support.ts";

const pgAvailable = await postgresAvailable();
if (!pgAvailable) console.warn("SKIPPING PostgreSQL reminder tests: no server at the test URL");

/** A person answering who says something a little after the greeting. */
function person(extra: Partial<CallScript> = {}): CallScript {
  return { answer: "human", audio: withSilence(2500, speech("caller_book_haircut")), ...extra };
}

/** The model of a reminder call: greets, then `onTurn` decides on what the callee said. */
function reminderModel(
  onTurn: (said: string, ctx: Parameters<Responder>[0]) => ReturnType<Responder>,
): Responder {
  return (ctx) => {
    const last = ctx.lastItem;
    if (ctx.trigger === "response.create" && ctx.instructions?.includes("Greet the caller")) {
      return { audioMs: 1200, transcript: "Hello, this is a reminder. Can you still make it?" };
    }
    if (last?.type === "function_call_output") {
      const out = JSON.parse(last.output ?? "{}");
      if (out.status === "ending") return { audioMs: 100, transcript: "" };
      if (out.slots?.length) {
        return { audioMs: 800, transcript: `I have ${out.slots[0].label}. Does that work?` };
      }
      // Anything done: goodbye and hang up.
      return { functionCalls: [{ name: "end_call", arguments: '{"reason":"done"}' }] };
    }
    if (last?.role === "user") return onTurn(ctx.lastUserText ?? "", ctx);
    return { audioMs: 300, transcript: "Okay." };
  };
}

interface Case {
  harness: Harness;
  booking: Booking;
}

/** Books one customer ten days ago, starts the service with reminders on, runs `fn`. */
async function withReminderCall(
  backend: "sqlite" | "postgres",
  setup: {
    script: CallScript;
    transcripts?: string[];
    responder?: Responder;
    env?: Record<string, string>;
    /** The reminder service's clock (to skip ahead to a retry). */
    now?: () => Temporal.Instant;
  },
  fn: (c: Case) => Promise<void>,
): Promise<void> {
  const file = await reminderProfileFile();
  const db = backend === "postgres" ? await freshDatabase() : undefined;
  const dir = await Deno.makeTempDir({ prefix: "reminders-e2e-" });
  const databaseUrl = db?.url ?? `sqlite:${dir}/agent.db`;
  let harness: Harness | undefined;
  try {
    const profile = parseBusinessProfile(file.profile);
    const [booking] = await bookDaysAgo(databaseUrl, profile, 1);
    harness = await startHarness({
      rest: true,
      restOptions: { script: (to) => to === customer(0) ? setup.script : { answer: "busy" } },
      env: reminderEnv(file.path, { DATABASE_URL: databaseUrl, ...setup.env }),
      fake: { transcripts: setup.transcripts ?? [], responder: setup.responder },
      overrides: { reminders: { tickMs: 100, now: setup.now } },
    });
    await fn({ harness, booking });
  } finally {
    await harness?.close();
    await db?.drop();
    await file.remove();
    await Deno.remove(dir, { recursive: true });
  }
}

function cases(name: string, fn: (backend: "sqlite" | "postgres") => Promise<void>) {
  Deno.test(`reminders e2e (sqlite): ${name}`, () => fn("sqlite"));
  Deno.test({
    name: `reminders e2e (postgres): ${name}`,
    ignore: !pgAvailable,
    fn: () => fn("postgres"),
  });
}

cases(
  "a person confirms; the call was placed with answering-machine detection",
  (backend) =>
    withReminderCall(backend, {
      script: person(),
      transcripts: ["Yes, I will be there."],
      responder: reminderModel(() => ({
        functionCalls: [{ name: "confirm_booking", arguments: "{}" }],
      })),
    }, async ({ harness: h, booking }) => {
      const reminder = await reminderWhen(h.app.store, booking.id, (r) => r.state === "done");
      assert.equal(h.rest!.placed.length, 1);
      const call = h.rest!.placed[0];
      const p = (name: string) => call.params[name]?.[0];
      assert.equal(p("To"), customer(0));
      assert.equal(p("From"), BUSINESS_FROM);
      assert.equal(p("MachineDetection"), "DetectMessageEnd");
      assert.equal(p("AsyncAmd"), "true");
      const link = `?r=${booking.id}&n=1&s=`;
      assert.ok(p("Url")!.startsWith(`https://voice.example.com/twilio/reminders/voice${link}`));
      assert.ok(
        p("AsyncAmdStatusCallback")!.startsWith(
          `https://voice.example.com/twilio/reminders/amd${link}`,
        ),
      );
      assert.ok(
        p("StatusCallback")!.startsWith(`https://voice.example.com/twilio/reminders/status${link}`),
      );
      assert.deepEqual(call.params.StatusCallbackEvent, [
        "initiated",
        "ringing",
        "answered",
        "completed",
      ]);
      assert.equal(p("MachineDetectionSpeechEndThreshold"), "1200");
      assert.ok(p("MachineDetectionTimeout"));

      assert.equal(reminder.result, "answered");
      assert.equal(reminder.attempts.length, 1);
      const attempt = reminder.attempts[0];
      assert.equal(attempt.callSid, call.sid);
      assert.equal(attempt.answeredBy, "human");
      assert.equal(attempt.result, "answered");
      await waitUntil(async () =>
        (await h.app.store.getReminder(booking.id))?.attempts[0].response === "confirmed"
      );
      assert.equal((await h.app.store.getBooking(booking.id))?.status, "confirmed");

      const session = h.fake.sessions[0];
      const instructions = String(session.config.instructions);
      assert.match(instructions, new RegExp(`reminder.*${booking.id}`, "s"));
      const tools = (session.config.tools as { name: string }[]).map((t) => t.name);
      assert.ok(tools.includes("confirm_booking") && tools.includes("opt_out"), tools.join());
      const record = await h.finalRecord(call.sid);
      assert.equal(record.from, customer(0), "the other party is the customer");
      assert.deepEqual(record.extra?.purpose, {
        kind: "reminder",
        outbound: true,
        bookingId: booking.id,
        attempt: 1,
      });
      assert.deepEqual(record.toolCalls.map((t) => t.name), ["confirm_booking", "end_call"]);
    }),
);

cases(
  "a person cancels: the booking is cancelled and its reminder dropped",
  (backend) =>
    withReminderCall(backend, {
      script: person(),
      transcripts: ["Please cancel it, I cannot come."],
      responder: undefined,
    }, async ({ harness: h, booking }) => {
      h.fake.setResponder(reminderModel(() => ({
        functionCalls: [{
          name: "cancel_booking",
          arguments: JSON.stringify({ booking_id: booking.id }),
        }],
      })));
      const reminder = await reminderWhen(
        h.app.store,
        booking.id,
        (r) => r.attempts[0]?.result === "answered" && r.attempts[0]?.response === "cancelled",
      );
      assert.equal((await h.app.store.getBooking(booking.id))?.status, "cancelled");
      assert.equal(reminder.state, "done");
      assert.equal(reminder.result, "dropped");
      assert.equal(h.rest!.placed.length, 1);
    }),
);

cases(
  "a person moves the appointment: the booking moves and its reminder starts over",
  (backend) =>
    withReminderCall(backend, {
      script: person({
        audio: withSilence(
          2500,
          speech("caller_book_haircut"),
          withSilence(3500, speech("caller_two_thirty")),
        ),
      }),
      transcripts: ["Can we move it to the day after?", "Yes, that works."],
    }, async ({ harness: h, booking }) => {
      const dayAfter = Temporal.PlainDate.from(booking.start.slice(0, 10)).add({ days: 1 });
      let offered: string | undefined;
      h.fake.setResponder(reminderModel((said, ctx) => {
        if (/move/.test(said)) {
          return {
            functionCalls: [{
              name: "get_slots",
              arguments: JSON.stringify({ service: "men's cut", date: dayAfter.toString() }),
            }],
          };
        }
        const slots = [...ctx.items].reverse().find((i) => i.output?.includes('"slots"'));
        offered = JSON.parse(slots!.output!).slots[0].start;
        return {
          functionCalls: [{
            name: "reschedule_booking",
            arguments: JSON.stringify({ booking_id: booking.id, new_start: offered }),
          }],
        };
      }));
      const reminder = await reminderWhen(
        h.app.store,
        booking.id,
        (r) => r.attempts[0]?.response === "rescheduled" && r.state === "done",
        30_000,
      );
      const moved = await h.app.store.getBooking(booking.id);
      assert.equal(moved?.status, "confirmed");
      assert.equal(moved?.start, offered);
      assert.notEqual(moved?.start, booking.start);
      assert.equal(reminder.round, 2, "the reminder started over for the new time");
      // The new time is less than REMINDER_HOURS_BEFORE away and no texts are configured.
      assert.equal(reminder.result, "too_late");
      assert.equal(reminder.attempts[0].result, "answered");
      assert.equal(h.rest!.placed.length, 1);
    }),
);

cases("a person opts out: never reminded again", (backend) =>
  withReminderCall(backend, {
    script: person(),
    transcripts: ["Please do not call me with reminders."],
    responder: reminderModel(() => ({ functionCalls: [{ name: "opt_out", arguments: "{}" }] })),
  }, async ({ harness: h, booking }) => {
    await reminderWhen(
      h.app.store,
      booking.id,
      (r) => r.state === "done" && r.attempts[0]?.response === "opted_out",
    );
    assert.equal(await h.app.store.isOptedOut(customer(0)), true);
    // A later booking of the same customer gets no call.
    const dbUrl = h.config.databaseUrl;
    const [later] = await bookDaysAgo(dbUrl, h.app.profile, 1, () => customer(0));
    const reminder = await reminderWhen(h.app.store, later.id, (r) => r.state === "done");
    assert.equal(reminder.result, "opted_out");
    assert.equal(reminder.attempts.length, 0);
    assert.equal(h.rest!.placed.length, 1);
    assert.equal((await h.app.store.getBooking(booking.id))?.status, "confirmed");
  }));

cases(
  "a machine answers: after the beep, the date, time and number; then hang up",
  (backend) =>
    withReminderCall(backend, {
      script: {
        answer: "machine",
        audio: withSilence(300, speech("caller_book_haircut")),
        amdAfterMs: 1500,
      },
      responder: reminderModel(() => ({ audioMs: 300, transcript: "Hello?" })),
    }, async ({ harness: h, booking }) => {
      const reminder = await reminderWhen(h.app.store, booking.id, (r) => r.state === "done");
      assert.equal(reminder.result, "voicemail");
      assert.equal(reminder.attempts[0].answeredBy, "machine_end_beep");
      const call = h.rest!.placed[0];
      assert.equal(call.redirects.length, 1);
      const twiml = call.redirects[0];
      assert.match(twiml, /<Say language="en-US">/);
      assert.ok(twiml.includes(booking.label), twiml);
      assert.ok(twiml.includes("2 1 2, 5 5 5, 0 1 4 2"), twiml);
      assert.match(twiml, /<Hangup\/><\/Response>$/);
      assert.equal((await h.app.store.getBooking(booking.id))?.status, "confirmed");
    }),
);

cases("no answer: one retry after REMINDER_RETRY_MINUTES, then a text", (backend) => {
  let offsetMs = 0;
  const clock = () => Temporal.Now.instant().add({ milliseconds: offsetMs });
  return withReminderCall(backend, {
    script: { answer: "no-answer" },
    env: { REMINDER_RETRY_MINUTES: "30", SMS_FROM: "+15550008888" },
    now: clock,
  }, async ({ harness: h, booking }) => {
    const first = await reminderWhen(h.app.store, booking.id, (r) => r.state === "no_answer");
    assert.equal(first.channel, "call");
    assert.ok(first.dueMs! >= Date.now() + 29 * 60_000, "retry in 30 minutes");
    assert.equal(h.rest!.placed.length, 1);
    offsetMs = 31 * 60_000;
    await waitUntil(() => h.rest!.messages.length === 1, 20_000, "the text");
    const reminder = await reminderWhen(h.app.store, booking.id, (r) => r.state === "done");
    assert.equal(h.rest!.placed.length, 2, "one retry");
    assert.equal(reminder.result, "sms");
    assert.deepEqual(reminder.attempts.map((a) => `${a.channel}:${a.result}`), [
      "call:no_answer",
      "call:no_answer",
      "sms:sent",
    ]);
    const text = h.rest!.messages[0];
    assert.equal(text.to, customer(0));
    assert.equal(text.from, "+15550008888");
    assert.ok(text.body.includes(booking.label), text.body);
  });
});

cases(
  "a person asks for someone at the salon: transferred",
  (backend) =>
    withReminderCall(backend, {
      script: person(),
      transcripts: ["Can I talk to someone at the salon?"],
      env: { TRANSFER_NUMBER: "+15557770000" },
      responder: reminderModel(() => ({
        functionCalls: [{ name: "transfer_call", arguments: '{"reason":"asked for a person"}' }],
      })),
    }, async ({ harness: h, booking }) => {
      const reminder = await reminderWhen(
        h.app.store,
        booking.id,
        (r) => r.state === "done" && r.attempts[0]?.response === "transferred",
      );
      assert.equal(reminder.result, "answered");
      const call = h.rest!.placed[0];
      assert.equal(call.redirects.length, 1);
      assert.match(call.redirects[0], /<Dial>\+15557770000<\/Dial>/);
      assert.equal((await h.app.store.getBooking(booking.id))?.status, "confirmed");
    }),
);

cases("a profile reloaded while the service runs names the business in later texts", (backend) => {
  // Nothing is due until the clock jumps: the reload lands first.
  let offsetMs = -30 * 24 * 3_600_000;
  const clock = () => Temporal.Now.instant().add({ milliseconds: offsetMs });
  return withReminderCall(backend, {
    script: { answer: "no-answer" },
    env: { REMINDERS: "sms", SMS_FROM: "+15550008888" },
    now: clock,
  }, async ({ harness: h, booking }) => {
    const file = h.config.businessFile!;
    const profile = JSON.parse(await Deno.readTextFile(file));
    await Deno.writeTextFile(file, JSON.stringify({ ...profile, name: "Bella Salon Uptown" }));
    assert.equal(h.app.reloadProfile().ok, true);
    offsetMs = 0;
    await waitUntil(() => h.rest!.messages.length === 1, 20_000, "the text");
    const text = h.rest!.messages[0];
    assert.ok(text.body.startsWith("Bella Salon Uptown: reminder of your"), text.body);
    assert.ok(text.body.includes(booking.label), text.body);
  });
});
