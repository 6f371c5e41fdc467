/**
 * End-to-end harness: the real service (startApp) on loopback, wired to the strict fake
 * Realtime server, with calls placed by the fake Twilio caller (src/sim).
 */
import { type App, type AppOverrides, startApp } from "../../src/app.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { TwilioCaller, type TwilioCallerOptions } from "../../src/sim/twilio_caller.ts";
import {
  type FakeRealtime,
  type FakeRealtimeOptions,
  startFakeRealtime,
} from "../../scripts/sim/fake_realtime.ts";
import { isOpenOn, todayInZone } from "../../src/booking/availability.ts";
import { TwilioCallControl } from "../../src/twilio/rest.ts";
import { type FakeTwilioRestOptions, startFakeTwilioRest } from "./fake_twilio_rest.ts";
import type { BusinessProfile } from "../../src/booking/business.ts";
import type { CallRecord } from "../../src/call/record.ts";
import { dropPgSchema, freshPgSchema, PG_TEST_URL } from "../booking/pg_test_db.ts";
import { waitUntil, within } from "./wait.ts";

export { waitUntil, within } from "./wait.ts";

/** Public origin the fake Twilio signs for (the server itself listens on loopback). */
export const PUBLIC_URL = "https://voice.example.com";
/** Auth token shared by the service and the fake Twilio. */
export const AUTH_TOKEN = "test-twilio-auth-token";
/** API key the fake Realtime server accepts. */
export const API_KEY = "sk-test-fake-realtime";
/** Account SID of the fake Twilio REST API (when a harness uses it). */
export const ACCOUNT_SID = "AC" + "0123456789abcdef".repeat(2);

/** Options of {@linkcode startHarness}. */
export interface HarnessOptions {
  env?: Record<string, string>;
  fake?: FakeRealtimeOptions;
  overrides?: AppOverrides;
  /** Run a fake Twilio REST API and give the service REST call control. */
  rest?: boolean;
  /** How the fake Twilio REST API plays calls the service places. */
  restOptions?: FakeTwilioRestOptions;
  /** Realtime URL to use instead of the fake's (e.g. an unreachable one). */
  realtimeUrl?: string;
  /** The database: a SQLite file in the temp directory (default) or a fresh PostgreSQL schema. */
  database?: "sqlite" | "postgres";
}

/** A running service plus its fakes. */
export interface Harness {
  app: App;
  fake: FakeRealtime;
  /** The fake Twilio REST API, when `rest` was asked for. */
  rest?: ReturnType<typeof startFakeTwilioRest>;
  config: Config;
  dir: string;
  /** Where signed Twilio-style requests go: the service, the public URL signed for, the token. */
  target: Pick<TwilioCallerOptions, "serverUrl" | "publicUrl" | "authToken">;
  /** Places a call with the fake Twilio caller. */
  dial(options?: Partial<TwilioCallerOptions>): Promise<TwilioCaller>;
  /** The call record once `ready` holds for it (waits up to 10 s). */
  recordWhen(callSid: string, ready: (record: CallRecord) => boolean): Promise<CallRecord>;
  /** The call record once the call is over and its final record is saved. */
  finalRecord(callSid: string): Promise<CallRecord>;
  /** Stops everything and removes the temporary directory. */
  close(): Promise<void>;
  /** `await using h = await startHarness()` closes it when the scope ends, even on failure. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the fake Realtime server and the service (SQLite in a temp dir, port 0). */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "voice-agent-e2e-" });
  const fake = await startFakeRealtime({ apiKey: API_KEY, ...options.fake });
  const rest = options.rest
    ? startFakeTwilioRest(ACCOUNT_SID, AUTH_TOKEN, options.restOptions)
    : undefined;
  const pgSchema = options.database === "postgres" ? freshPgSchema("e2e") : undefined;
  const config = {
    ...loadConfig({
      PUBLIC_URL,
      OPENAI_API_KEY: API_KEY,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      OPENAI_REALTIME_URL: options.realtimeUrl ?? fake.url,
      ...(rest ? { TWILIO_ACCOUNT_SID: ACCOUNT_SID } : {}),
      DATABASE_URL: pgSchema ? PG_TEST_URL : `sqlite:${dir}/agent.db`,
      RECORDINGS_DIR: `${dir}/recordings`,
      HOST: "127.0.0.1",
      DRAIN_SECONDS: "5",
      ...options.env,
    }),
    port: 0,
  };
  let app: App;
  try {
    app = await startApp(config, {
      goodbyeSeconds: 5,
      control: rest
        ? new TwilioCallControl({
          accountSid: ACCOUNT_SID,
          authToken: AUTH_TOKEN,
          httpClient: rest.httpClient,
        })
        : undefined,
      ...(pgSchema ? { storeOptions: { schema: pgSchema, maxConnections: 4 } } : {}),
      ...options.overrides,
    });
  } catch (error) {
    await fake.close();
    await rest?.close();
    if (pgSchema) await dropPgSchema(pgSchema);
    throw error;
  }
  const target = { serverUrl: app.baseUrl, publicUrl: PUBLIC_URL, authToken: AUTH_TOKEN };
  rest?.drive({ servers: [app.baseUrl], publicUrl: PUBLIC_URL, authToken: AUTH_TOKEN });
  const recordWhen = async (callSid: string, ready: (record: CallRecord) => boolean) => {
    let record: CallRecord | undefined;
    await waitUntil(
      async () => {
        record = await app.store.getCall(callSid);
        return record !== undefined && ready(record);
      },
      10_000,
      `the record of ${callSid}`,
    );
    return record!;
  };
  const harness: Harness = {
    app,
    fake,
    rest,
    config,
    dir,
    target,
    async dial(o = {}) {
      const caller = await TwilioCaller.dial({
        ...target,
        accountSid: rest ? ACCOUNT_SID : undefined,
        from: "+15550001111",
        to: "+15559990000",
        ...o,
      });
      rest?.calls.set(caller.callSid, "in-progress");
      return caller;
    },
    recordWhen,
    finalRecord: (callSid) => recordWhen(callSid, (record) => record.endedAt !== undefined),
    /** Each step is bounded, and every step runs even when one before it failed. */
    async close() {
      // No new calls; the calls placed end (their last callbacks still reach the service).
      const steps: [string, () => Promise<unknown>][] = [
        ["the reminders to stop", async () => await app.reminders?.stop()],
        ["the fake Twilio REST API to close", async () => await rest?.close()],
        ["the service to stop", () => app.stop()],
        ["the fake Realtime server to close", () => fake.close()],
        ["the PostgreSQL schema dropped", async () => pgSchema && await dropPgSchema(pgSchema)],
        ["the temporary directory removed", () => Deno.remove(dir, { recursive: true })],
      ];
      const errors: Error[] = [];
      for (const [what, step] of steps) {
        await within(step(), 30_000, what).catch((error) => errors.push(error));
      }
      if (errors.length > 0) {
        throw new AggregateError(
          errors,
          errors.map((e) => e.message).join("; "),
        );
      }
    },
    [Symbol.asyncDispose]: () => harness.close(),
  };
  return harness;
}

/** Reads a committed speech fixture (raw 8 kHz mu-law). */
export function speech(name: string): Uint8Array {
  return Deno.readFileSync(new URL(`../fixtures/${name}_8k_mulaw.raw`, import.meta.url));
}

/** `ms` of mu-law digital silence (code 0xFF, G.711's positive zero). */
export function silence(ms: number): Uint8Array {
  return new Uint8Array(Math.round(ms * 8)).fill(0xff);
}

/** `ms` of silence followed by each part, as one mu-law buffer. */
export function withSilence(ms: number, ...parts: Uint8Array[]): Uint8Array {
  const chunks = [silence(ms), ...parts];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The next open day at least two days from now, in the business zone (`YYYY-MM-DD`). */
export function nextOpenDate(profile: BusinessProfile): string {
  let date = todayInZone(profile, Temporal.Now.instant()).add({ days: 2 });
  while (!isOpenOn(profile, date)) date = date.add({ days: 1 });
  return date.toString();
}
