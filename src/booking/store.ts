/**
 * The booking store: the one place bookings and call records are kept.
 *
 * {@linkcode openStore} picks a backend from `DATABASE_URL`:
 * - `sqlite:PATH` (default, e.g. `sqlite:data/bookings.db`; relative to the working directory,
 *   the directory is created; `sqlite::memory:` for a throw-away store) — one instance, or
 *   several processes on one machine;
 * - `postgres://…` / `postgresql://…` — several instances behind a load balancer.
 *
 * Both backends make the same promise: the capacity check and the insert happen in one
 * write transaction that no other writer can interleave with, so the business is never
 * double-booked, whatever number of processes race for the same slot.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import type { BusinessProfile } from "./business.ts";
import type { BookingStore, StoreOptions } from "./types.ts";
import { logger } from "../log.ts";
import { DatabaseOpenError, type DatabaseTarget } from "./database_errors.ts";

/** A `DATABASE_URL` that names no supported backend. */
export class DatabaseUrlError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "DatabaseUrlError";
  }
}

export type { DatabaseTarget } from "./database_errors.ts";

/** Query parameters that may carry a secret in a database URL. */
const SECRET_PARAM = /pass|pwd|secret|token|key/i;

/**
 * `DATABASE_URL` safe to log: the password and any secret-looking query parameter
 * (`?password=`, `sslpassword`, …) replaced by `[redacted]`, parsed with `new URL()` so a
 * password containing `@` or `:` is redacted whole. A URL that does not parse keeps only its
 * scheme and host part.
 *
 * @example
 * ```ts
 * redactDatabaseUrl("postgres://app:p@ss@db:5432/x"); // "postgres://app:[redacted]@db:5432/x"
 * ```
 */
export function redactDatabaseUrl(databaseUrl: string): string {
  const REDACTED = "[redacted]";
  let url: URL;
  try {
    url = new URL(databaseUrl.trim());
  } catch {
    // Unparseable (e.g. an unencoded "/" or "#" in the password): keep what follows the
    // last "@" up to any query, never what precedes it.
    const m = /^([a-z][a-z0-9+.-]*:)?(\/\/)?(?:.*@)?([^?#]*)/is.exec(databaseUrl.trim());
    const [, scheme = "", slashes = "", rest = ""] = m ?? [];
    return `${scheme}${slashes}${databaseUrl.includes("@") ? `${REDACTED}@` : ""}${rest}` +
      (/[?#]/.test(databaseUrl) ? `?${REDACTED}` : "");
  }
  // A placeholder the URL serializer leaves alone, swapped for the marker afterwards.
  const mark = `x${crypto.randomUUID().replaceAll("-", "")}`;
  if (url.password) url.password = mark;
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) url.searchParams.set(key, mark);
  }
  return url.toString().replaceAll(mark, REDACTED);
}

/**
 * Parses `DATABASE_URL`: `sqlite:PATH` (relative to `cwd`), `sqlite::memory:`,
 * `sqlite:///abs/path`, `file:PATH`, or `postgres://` / `postgresql://`.
 */
export function parseDatabaseUrl(databaseUrl: string, cwd: string = Deno.cwd()): DatabaseTarget {
  const url = databaseUrl.trim();
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: "postgres", url };
  const m = /^(?:sqlite|file):(.*)$/i.exec(url);
  if (!m || m[1] === "") {
    throw new DatabaseUrlError(
      `DATABASE_URL "${
        redactDatabaseUrl(databaseUrl)
      }" is not supported: use sqlite:PATH (e.g. sqlite:data/bookings.db) or postgres://user@host:5432/db`,
    );
  }
  let path = m[1];
  if (path === ":memory:") return { kind: "sqlite", path };
  if (path.startsWith("//")) path = decodeURIComponent(path.slice(2)); // sqlite:///abs → /abs
  return { kind: "sqlite", path: isAbsolute(path) ? path : resolve(cwd, path) };
}

/**
 * Opens (and by default migrates) the store named by `databaseUrl`.
 *
 * @example
 * ```ts
 * import type { BusinessProfile } from "./business.ts";
 * import type { Slot } from "./availability.ts";
 * declare const profile: BusinessProfile;
 * declare const slot: Slot; // one of the free slots offered to the caller
 * const store = await openStore(Deno.env.get("DATABASE_URL") ?? "sqlite:data/bookings.db", profile);
 * const result = await store.book({ serviceId: "mens-cut", start: slot.start,
 *   customerName: "Ann", customerPhone: "+12125550100", idempotencyKey: "CA1:call_7" });
 * await store.close();
 * ```
 */
export async function openStore(
  databaseUrl: string,
  profile: BusinessProfile,
  opts: StoreOptions = {},
): Promise<BookingStore> {
  const target = parseDatabaseUrl(databaseUrl);
  let store: BookingStore;
  try {
    if (target.kind === "sqlite") {
      const { SqliteBookingStore } = await import("./sqlite_store.ts");
      store = SqliteBookingStore.open(target.path, profile, opts);
    } else {
      const { PostgresBookingStore } = await import("./postgres_store.ts");
      store = PostgresBookingStore.open(target.url, profile, opts);
    }
  } catch (err) {
    throw wrapOpenError(databaseUrl, target, err);
  }
  if (opts.migrate ?? true) {
    try {
      // The first query: PostgreSQL connects here, SQLite reads the file's header.
      await store.migrate();
    } catch (err) {
      await store.close().catch(() => {});
      throw wrapOpenError(databaseUrl, target, err);
    }
  }
  return store;
}

/**
 * Start-up clean-up after a crash: marks `abandoned` the `in_progress` records of calls that
 * started longer ago than any call can still be running (`maxCallSeconds` plus
 * `drainSeconds` plus a minute), so a crash leaves no record `in_progress` forever while calls
 * live on other instances sharing the database are left alone (and a live call's own later
 * save would win anyway). Returns how many; a failure is logged, never thrown.
 */
export async function abandonCrashedCalls(
  store: Pick<BookingStore, "abandonStaleCalls">,
  limits: { maxCallSeconds: number; drainSeconds: number },
  now: Temporal.Instant = Temporal.Now.instant(),
): Promise<number> {
  const log = logger("booking");
  try {
    const n = await store.abandonStaleCalls(
      now.subtract({ seconds: limits.maxCallSeconds + limits.drainSeconds + 60 }),
    );
    if (n > 0) {
      log.warn("marked {count} call records left in progress by a crash abandoned", { count: n });
    }
    return n;
  } catch (err) {
    log.error("marking crashed calls abandoned failed: {error}", { error: String(err) });
    return 0;
  }
}

/** Names `DATABASE_URL` in the error; a missing Deno permission stays as it is (main prints it). */
function wrapOpenError(databaseUrl: string, target: DatabaseTarget, err: unknown): unknown {
  if (err instanceof Deno.errors.NotCapable) return err;
  return new DatabaseOpenError(databaseUrl, target, err);
}
