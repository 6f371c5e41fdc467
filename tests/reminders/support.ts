/**
 * Shared set-up of the reminder tests: a business whose calling window is always open, bookings
 * made days ago (so their reminders are due now), fresh PostgreSQL databases, and what the
 * reminder rows say.
 *
 * @module
 */
import postgres from "postgres";
import { freshPgSchema, PG_TEST_URL, pgAvailable } from "../booking/pg_test_db.ts";
import { DEFAULT_BUSINESS_FILE } from "../../src/booking/business.ts";
import type { BusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import type { Booking, BookingStore, Reminder } from "../../src/booking/types.ts";
import { isOpenOn, todayInZone } from "../../src/booking/availability.ts";
import { waitUntil } from "../support/harness.ts";

/** The number reminder calls come from. */
export const BUSINESS_FROM = "+15550009999";

/** PostgreSQL of the tests. */
export const PG_URL = PG_TEST_URL;

/** Whether PostgreSQL answers (tests on it are skipped otherwise, with a message). */
export const postgresAvailable = pgAvailable;

/** A fresh, empty PostgreSQL database (instances use its `public` schema, as in production). */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = freshPgSchema("reminders");
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    async drop() {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}

/** The example salon with a calling window open all day, no closed dates, room for 10. */
export async function reminderProfileFile(
  patch: Record<string, unknown> = {},
): Promise<{ path: string; profile: Record<string, unknown>; remove(): Promise<void> }> {
  const profile = {
    ...JSON.parse(await Deno.readTextFile(DEFAULT_BUSINESS_FILE)),
    closedDates: [],
    capacity: 10,
    callingWindow: { start: "00:00", end: "24:00" },
    ...patch,
  };
  const path = await Deno.makeTempFile({ prefix: "reminder-profile-", suffix: ".json" });
  await Deno.writeTextFile(path, JSON.stringify(profile));
  return { path, profile, remove: () => Deno.remove(path) };
}

/** Reminders due `hours` before the start: a week, so bookings 2-5 days ahead are due now. */
export const HOURS_BEFORE = "168";

/** Environment of a service that places reminder calls. */
export function reminderEnv(businessFile: string, extra: Record<string, string> = {}) {
  return {
    BUSINESS_FILE: businessFile,
    REMINDERS: "call",
    TWILIO_FROM: BUSINESS_FROM,
    REMINDER_HOURS_BEFORE: HOURS_BEFORE,
    OUTBOUND_CALLS_PER_MINUTE: "600",
    ...extra,
  };
}

/** A customer's number, distinct per index. */
export function customer(i: number): string {
  return `+1212555${String(1000 + i).padStart(4, "0")}`;
}

/**
 * Makes `count` bookings as a store would have ten days ago, on the next open days at least
 * two days away (so each reminder, due a week before its start, is due now).
 */
export async function bookDaysAgo(
  databaseUrl: string,
  profile: BusinessProfile,
  count: number,
  phone: (i: number) => string = customer,
): Promise<Booking[]> {
  const then = Temporal.Now.instant().subtract({ hours: 240 });
  const store = await openStore(databaseUrl, profile, { clock: () => then });
  try {
    const out: Booking[] = [];
    let date = todayInZone(profile, Temporal.Now.instant()).add({ days: 2 });
    while (out.length < count) {
      if (isOpenOn(profile, date)) {
        const free = await store.listFreeSlots({ serviceId: "mens-cut", date });
        for (const slot of free.ok ? free.slots : []) {
          // Fill each start up to capacity; overlapping starts may then be full.
          while (out.length < count) {
            const i = out.length;
            const result = await store.book({
              serviceId: "mens-cut",
              start: slot.start,
              customerName: `Customer ${i} Example`,
              customerPhone: phone(i),
            });
            if (!result.ok && result.reason === "full") break;
            if (!result.ok) throw new Error(`booking ${i}: ${result.message}`);
            // One booking per person and start: the same customer again needs another start.
            if (result.replayed) break;
            out.push(result.booking);
          }
          if (out.length >= count) break;
        }
      }
      date = date.add({ days: 1 });
    }
    return out;
  } finally {
    await store.close();
  }
}

/** Waits until `id`'s reminder satisfies `ready`; returns it. */
export async function reminderWhen(
  store: BookingStore,
  id: string,
  ready: (r: Reminder) => boolean,
  timeoutMs = 20_000,
): Promise<Reminder> {
  let reminder: Reminder | undefined;
  await waitUntil(
    async () => {
      reminder = await store.getReminder(id);
      return reminder !== undefined && ready(reminder);
    },
    timeoutMs,
    `reminder ${id}`,
  );
  return reminder!;
}
