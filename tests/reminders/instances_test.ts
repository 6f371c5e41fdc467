/**
 * Reminders as a job queue on one PostgreSQL: several instances never place the same
 * reminder twice, share one call rate, and finish the work of an instance that died.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type App, startApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { parseBusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import { TwilioCallControl } from "../../src/twilio/rest.ts";
import { type FakeRealtime, startFakeRealtime } from "../../scripts/sim/fake_realtime.ts";
import { type FakeTwilioRest, startFakeTwilioRest } from "../support/fake_twilio_rest.ts";
import {
  ACCOUNT_SID,
  API_KEY,
  AUTH_TOKEN,
  PUBLIC_URL,
  speech,
  waitUntil,
  withSilence,
} from "../support/harness.ts";
import { DENO_BASE_ENV, DENO_CONFIG } from "../support/process.ts";
import {
  bookDaysAgo,
  customer,
  freshDatabase,
  postgresAvailable,
  reminderEnv,
  reminderProfileFile,
  reminderWhen,
} from "./support.ts";

const pgAvailable = await postgresAvailable();

/** Instances of the service on one database, with one fake Twilio and one fake model. */
interface Fleet {
  apps: App[];
  rest: FakeTwilioRest;
  model: FakeRealtime;
  env: Record<string, string>;
  start(count: number, owner: string): Promise<App[]>;
  close(): Promise<void>;
}

async function fleet(
  databaseUrl: string,
  businessFile: string,
  extraEnv: Record<string, string> = {},
  leaseMs = 60_000,
): Promise<Fleet> {
  const rest = startFakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN);
  const model = await startFakeRealtime({ apiKey: API_KEY });
  const env = {
    PUBLIC_URL,
    OPENAI_API_KEY: API_KEY,
    OPENAI_REALTIME_URL: model.url,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    DATABASE_URL: databaseUrl,
    HOST: "127.0.0.1",
    DRAIN_SECONDS: "2",
    MAX_CALLS: "100",
    ...reminderEnv(businessFile),
    ...extraEnv,
  };
  const apps: App[] = [];
  const f: Fleet = {
    apps,
    rest,
    model,
    env,
    async start(count, owner) {
      const started = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          startApp({ ...loadConfig(env), port: 0 }, {
            goodbyeSeconds: 2,
            control: new TwilioCallControl({
              accountSid: ACCOUNT_SID,
              authToken: AUTH_TOKEN,
              httpClient: rest.httpClient,
            }),
            reminders: { tickMs: 50, leaseMs, owner: `${owner}-${i}` },
          })),
      );
      apps.push(...started);
      rest.drive({
        servers: apps.map((a) => a.baseUrl),
        publicUrl: PUBLIC_URL,
        authToken: AUTH_TOKEN,
      });
      return started;
    },
    async close() {
      await Promise.all(apps.map((a) => a.reminders?.stop()));
      await rest.close();
      await Promise.all(apps.map((a) => a.stop()));
      await model.close();
    },
  };
  return f;
}

Deno.test({
  name:
    "reminders (postgres): three instances start together with 50 due reminders: exactly 50 calls",
  ignore: !pgAvailable,
  fn: async () => {
    const db = await freshDatabase();
    const file = await reminderProfileFile();
    const f = await fleet(db.url, file.path);
    try {
      const bookings = await bookDaysAgo(db.url, parseBusinessProfile(file.profile), 50);
      const apps = await f.start(3, "instance");
      const store = apps[0].store;
      // Every call goes unanswered: wait until every reminder has heard how its call went.
      await waitUntil(
        async () => {
          const states = await Promise.all(bookings.map((b) => store.getReminder(b.id)));
          return states.every((r) => r!.attempts.length > 0 && r!.attempts.every((a) => a.result));
        },
        30_000,
        "every reminder called",
      );
      await new Promise((r) => setTimeout(r, 500)); // a few more ticks: nothing else goes out
      assert.equal(f.rest.placed.length, 50);
      assert.equal(f.rest.createRequests, 50);
      for (const b of bookings) {
        assert.equal((await store.getReminder(b.id))?.state, "no_answer", "waiting for its retry");
      }
      assert.equal(new Set(f.rest.placed.map((c) => c.to)).size, 50, "one call per customer");
      const reminders = await Promise.all(bookings.map((b) => store.getReminder(b.id)));
      const sids = reminders.map((r) => r!.attempts.map((a) => a.callSid));
      assert.ok(sids.every((s) => s.length === 1), "one attempt each");
      assert.deepEqual(
        new Set(sids.flat()),
        new Set(f.rest.placed.map((c) => c.sid)),
        "every placed call belongs to one reminder",
      );
      const byOwner: Record<string, number> = {};
      for (const r of reminders) {
        byOwner[r!.attempts[0].owner] = (byOwner[r!.attempts[0].owner] ?? 0) + 1;
      }
      console.log("calls placed per instance:", byOwner);
    } finally {
      await f.close();
      await db.drop();
      await file.remove();
    }
  },
});

Deno.test({
  name: "reminders (postgres): OUTBOUND_CALLS_PER_MINUTE holds across instances",
  ignore: !pgAvailable,
  fn: async () => {
    const db = await freshDatabase();
    const file = await reminderProfileFile();
    const f = await fleet(db.url, file.path, { OUTBOUND_CALLS_PER_MINUTE: "6" });
    try {
      const bookings = await bookDaysAgo(db.url, parseBusinessProfile(file.profile), 10);
      const apps = await f.start(3, "instance");
      await waitUntil(() => f.rest.placed.length >= 6, 20_000, "six calls");
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(f.rest.placed.length, 6, "no more than six in a minute");
      const waiting = (await Promise.all(bookings.map((b) => apps[0].store.getReminder(b.id))))
        .filter((r) => r?.state === "scheduled");
      assert.equal(waiting.length, 4, "the rest wait for the next minute");
    } finally {
      await f.close();
      await db.drop();
      await file.remove();
    }
  },
});

const WORKER = fileURLToPath(new URL("./worker_process.ts", import.meta.url));

Deno.test({
  name:
    "reminders (postgres): an instance killed while dialling: another finishes the reminder, one call",
  ignore: !pgAvailable,
  fn: async () => {
    const db = await freshDatabase();
    const file = await reminderProfileFile();
    const leaseMs = 4000;
    const f = await fleet(db.url, file.path, {}, leaseMs);
    let releaseCall!: () => void;
    let releaseResponse!: () => void;
    const callReleased = new Promise<void>((r) => (releaseCall = r));
    const responseReleased = new Promise<void>((r) => (releaseResponse = r));
    try {
      const [booking] = await bookDaysAgo(db.url, parseBusinessProfile(file.profile), 1);
      // Twilio places the call, but the instance dies before it hears back.
      f.rest.script(customer(0), {
        answer: "machine",
        audio: withSilence(300, speech("caller_book_haircut")),
        holdResponse: responseReleased,
        startAfter: callReleased,
      });
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--config", DENO_CONFIG, "-A", WORKER],
        env: {
          ...DENO_BASE_ENV,
          ...f.env,
          FAKE_TWILIO_REST: f.rest.baseUrl,
          LEASE_MS: String(leaseMs),
        },
        clearEnv: true,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      await waitUntil(() => f.rest.placed.length === 1, 30_000, "the doomed instance's call");
      child.kill("SIGKILL");
      const status = await child.status;
      await child.stdout.cancel();
      assert.equal(status.signal, "SIGKILL");
      const probe = await openStore(db.url, parseBusinessProfile(file.profile));
      const before = await probe.getReminder(booking.id).finally(() => probe.close());
      assert.equal(before?.state, "dialing");
      assert.equal(before?.attempts[0].owner, "doomed-instance");
      assert.equal(before?.attempts[0].callSid, undefined, "the doomed instance never heard back");

      const [survivor] = await f.start(1, "survivor");
      // After the lease, the survivor finds the call at Twilio instead of dialling again.
      await reminderWhen(
        survivor.store,
        booking.id,
        (r) => r.attempts.some((a) => a.callSid !== undefined) || f.rest.placed.length > 1,
        15_000,
      );
      assert.equal(f.rest.placed.length, 1, "the survivor did not dial again");
      assert.equal(
        (await survivor.store.getReminder(booking.id))?.attempts[0].callSid,
        f.rest.placed[0].sid,
      );
      assert.ok(
        f.rest.requests.some((r) => r.method === "GET" && r.path.includes("/Calls.json?")),
        "the survivor asked Twilio for calls to the customer",
      );
      releaseCall();
      const done = await reminderWhen(survivor.store, booking.id, (r) => r.state === "done");
      assert.equal(done.result, "voicemail");
      assert.equal(done.attempts.length, 1);
      assert.equal(f.rest.placed.length, 1, "exactly one call");
      assert.equal(f.rest.createRequests, 1);
      assert.equal(f.rest.placed[0].redirects.length, 1, "one message left");
    } finally {
      releaseCall();
      releaseResponse();
      await f.close();
      await db.drop();
      await file.remove();
    }
  },
});
