/**
 * The PostgreSQL test database for tests outside the store suite: whether it answers, a
 * fresh schema per test, and dropping it. Same server and rules as `postgres_store_test.ts`.
 *
 * @module
 */
import postgres from "postgres";

/** The test server (override with `DATABASE_URL_TEST_PG`). */
export const PG_TEST_URL = Deno.env.get("DATABASE_URL_TEST_PG") ??
  "postgres://postgres@127.0.0.1:5432/test";

/** True when the test server answers (a warning says why not otherwise). */
export async function pgAvailable(): Promise<boolean> {
  const { hostname, port } = new URL(PG_TEST_URL);
  try {
    const conn = await Deno.connect({ hostname, port: Number(port || 5432) });
    conn.close();
  } catch {
    console.warn(`SKIPPING PostgreSQL tests: no server at ${PG_TEST_URL}`);
    return false;
  }
  const sql = postgres(PG_TEST_URL, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return true;
  } catch (err) {
    console.warn(`SKIPPING PostgreSQL tests: ${(err as Error).message}`);
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

let counter = 0;
/**
 * A schema (or database) name no other test uses: test files running in parallel share the
 * process id and may share the millisecond, so a random part keeps them apart.
 */
export function freshPgSchema(prefix = "t"): string {
  const random = crypto.randomUUID().slice(0, 8);
  return `${prefix}_${Deno.pid}_${Date.now().toString(36)}_${counter++}_${random}`;
}

/** Drops a test schema and everything in it. */
export async function dropPgSchema(schema: string): Promise<void> {
  const sql = postgres(PG_TEST_URL, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/**
 * Holds the booking day lock of `date` (`YYYY-MM-DD`) in `schema` from another session,
 * as a concurrent booking transaction would, until `release()` or `maxMs`.
 */
export async function holdPgDayLock(
  schema: string,
  date: string,
  maxMs: number,
): Promise<{ release(): void; done: Promise<void> }> {
  const holder = postgres(PG_TEST_URL, { max: 1, onnotice: () => {} });
  let release = () => {};
  const released = new Promise<void>((r) => release = r);
  const timer = setTimeout(release, maxMs);
  let locked = () => {};
  const isLocked = new Promise<void>((r) => locked = r);
  const held = holder.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`booking-day:${schema}:${date}`}, 0))`;
    locked();
    await released;
  });
  const done = held.then(
    () => {},
    () => {},
  ).finally(async () => {
    clearTimeout(timer);
    await holder.end({ timeout: 1 });
  });
  await Promise.race([isLocked, held]);
  return { release, done };
}
