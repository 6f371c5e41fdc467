/**
 * The console on its own, for API tests: a real store (SQLite or PostgreSQL), a business
 * profile file in a temp directory (so reloads can be tested), a live feed the test
 * controls, and a server on a free loopback port.
 *
 * @module
 */
import { type Console, createConsole } from "../../src/console/routes.ts";
import { BusinessProfileSource } from "../../src/console/profile_reload.ts";
import { type LiveCallView, pollingLiveFeed } from "../../src/console/live.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import type { BookingStore } from "../../src/booking/types.ts";
import { parseBusinessProfile } from "../../src/booking/business.ts";
import type { LoginLimits } from "../../src/console/rate_limit.ts";
import { testProfileJson } from "../booking/fixtures.ts";
import { BACKENDS, type TestDatabase } from "./backends.ts";
import { CONSOLE_PASSWORD } from "./client.ts";

/** A running console. */
export interface ConsoleServer {
  base: string;
  store: BookingStore;
  console: Console;
  profiles: BusinessProfileSource;
  /** Path of the profile file (rewrite it, then reload). */
  profilePath: string;
  /** Calls the live feed reports (change it; the feed polls). */
  live: LiveCallView[];
  /** The session clock, ms (move it to expire sessions). */
  clock: { ms: number };
  close(): Promise<void>;
}

/** Options of {@linkcode startConsoleServer}. */
export interface ConsoleServerOptions {
  backend?: "sqlite" | "postgres";
  publicUrl?: string;
  password?: string;
  passwordHash?: string;
  sessionHours?: number;
  loginLimits?: Partial<LoginLimits>;
  /** The store's and API's "now" (default: the real clock). */
  now?: () => Temporal.Instant;
  /** Profile JSON (default: the test salon). */
  profile?: Record<string, unknown>;
  /** `REMINDERS` as the console sees it (default off). */
  reminders?: "call" | "sms" | "off";
}

/** Starts a console on a fresh database. */
export async function startConsoleServer(o: ConsoleServerOptions = {}): Promise<ConsoleServer> {
  const backend = BACKENDS.find((b) => b.name === (o.backend ?? "sqlite"))!;
  const db: TestDatabase = await backend.create();
  const dir = await Deno.makeTempDir({ prefix: "console-profile-" });
  const profilePath = `${dir}/business.json`;
  const json = o.profile ?? testProfileJson();
  await Deno.writeTextFile(profilePath, JSON.stringify(json, null, 2));
  const profile = parseBusinessProfile(json, profilePath);
  const store = await db.open(profile, o.now);
  const profiles = new BusinessProfileSource(profilePath, profile, (p) => store.setProfile(p));
  const live: LiveCallView[] = [];
  const clock = { ms: Date.now() };
  let server: RunningServer | undefined;
  let console: Console | undefined;
  try {
    console = await createConsole({
      config: {
        password: o.passwordHash ? undefined : (o.password ?? CONSOLE_PASSWORD),
        passwordHash: o.passwordHash,
        sessionHours: o.sessionHours ?? 12,
      },
      publicUrl: o.publicUrl ?? "https://voice.example.com",
      store,
      profiles,
      live: pollingLiveFeed({ liveCalls: () => structuredClone(live) }, { intervalMs: 50 }),
      reminders: o.reminders,
      now: o.now,
      clockMs: () => clock.ms,
      loginLimits: o.loginLimits,
    });
    server = startServer({ hostname: "127.0.0.1", port: 0, routes: console.routes });
  } catch (error) {
    await store.close();
    await db.cleanup();
    throw error;
  }
  const running = server;
  const con = console;
  return {
    base: `http://127.0.0.1:${running.addr.port}`,
    store,
    console: con,
    profiles,
    profilePath,
    live,
    clock,
    async close() {
      con.close();
      await running.shutdown();
      await store.close();
      await db.cleanup();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
