/**
 * The two store backends for console tests: a SQLite file in a temp directory and a fresh
 * PostgreSQL schema (skipped, with a message, when no server answers).
 *
 * @module
 */
import type { BusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import { dropPgSchema, freshPgSchema, PG_TEST_URL, pgAvailable } from "../booking/pg_test_db.ts";
import type { BookingStore } from "../../src/booking/types.ts";

/** URL of the test PostgreSQL server. */
export const URL_PG = PG_TEST_URL;

/** Whether the PostgreSQL tests run. */
export const PG_AVAILABLE = await pgAvailable();
if (!PG_AVAILABLE) {
  console.warn(`SKIPPING PostgreSQL console tests: no server at ${URL_PG}`);
}

/** A database for one test: its `DATABASE_URL`, store options, and cleanup. */
export interface TestDatabase {
  /** `DATABASE_URL` value. */
  url: string;
  /** PostgreSQL schema (undefined for SQLite). */
  schema?: string;
  /** Opens a store on it. */
  open(profile: BusinessProfile, clock?: () => Temporal.Instant): Promise<BookingStore>;
  /** Drops the schema or removes the file. */
  cleanup(): Promise<void>;
}

/** A backend under test. */
export interface Backend {
  name: "sqlite" | "postgres";
  ignore: boolean;
  /** A fresh, empty database. */
  create(): Promise<TestDatabase>;
}

/** Both backends. */
export const BACKENDS: Backend[] = [
  {
    name: "sqlite",
    ignore: false,
    async create() {
      const dir = await Deno.makeTempDir({ prefix: "console-sqlite-" });
      const url = `sqlite:${dir}/agent.db`;
      return {
        url,
        open: (profile, clock) => openStore(url, profile, { clock }),
        cleanup: () => Deno.remove(dir, { recursive: true }),
      };
    },
  },
  {
    name: "postgres",
    ignore: !PG_AVAILABLE,
    create() {
      const schema = freshPgSchema("console_test");
      return Promise.resolve({
        url: URL_PG,
        schema,
        open: (profile, clock) => openStore(URL_PG, profile, { clock, schema, maxConnections: 4 }),
        cleanup: () => dropPgSchema(schema),
      });
    },
  },
];
