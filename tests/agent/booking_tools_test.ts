/**
 * The booking tools as the model uses them, on real stores: one booking per person and
 * instant, the truth for every parallel call, no ghost booking after a timeout, bounded and
 * cleaned arguments, and no internal error text in what the model may read aloud.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { bookingTools } from "../../src/agent/booking_tools.ts";
import { callControlTools } from "../../src/agent/call_control_tools.ts";
import {
  MAX_ARGUMENTS_CHARS,
  outcomeToOutput,
  type ToolOutcome,
  ToolRegistry,
} from "../../src/agent/tools.ts";
import { openStore } from "../../src/booking/store.ts";
import type { BookingStore } from "../../src/booking/types.ts";
import { MONDAY_7AM, testProfile } from "../booking/fixtures.ts";
import {
  dropPgSchema,
  freshPgSchema,
  holdPgDayLock,
  PG_TEST_URL,
  pgAvailable,
} from "../booking/pg_test_db.ts";

const CALLER = "+12125550199";
const TUE_10 = "2026-03-03T10:00:00-05:00";
const pg = await pgAvailable();

function memoryStore(): Promise<BookingStore> {
  return openStore("sqlite::memory:", testProfile(), { clock: () => MONDAY_7AM });
}

function registry(store: BookingStore, timeoutMs?: number): ToolRegistry {
  return new ToolRegistry(bookingTools({ profile: testProfile(), store, timeoutMs }));
}

function ctx(callSid = "CA1") {
  return { callSid, callerNumber: CALLER };
}

/** book_slot's result object (the call must not be a tool error). */
async function bookSlot(
  tools: ToolRegistry,
  args: Record<string, unknown>,
  callSid = "CA1",
): Promise<Record<string, unknown>> {
  const out = await tools.invoke(
    "book_slot",
    JSON.stringify({ service: "men's cut", start: TUE_10, ...args }),
    ctx(callSid),
  );
  assert.ok(out.ok, outcomeToOutput(out));
  return out.output as Record<string, unknown>;
}

Deno.test("book_slot: parallel calls in one response for different people each get the truth", async () => {
  const store = await memoryStore();
  try {
    const tools = registry(store);
    const names = ["Ann Lee", "Bo Lee", "Cy Lee"]; // capacity is 2
    const results = await Promise.all(names.map((n) => bookSlot(tools, { customer_name: n })));
    assert.deepEqual(results.map((r) => r.status).sort(), [
      "confirmed",
      "confirmed",
      "unavailable",
    ]);
    for (const [i, r] of results.entries()) {
      if (r.status === "confirmed") assert.equal(r.customer_name, names[i], "their own booking");
    }
    const stored = await store.findByPhone(CALLER);
    assert.deepEqual(
      stored.map((b) => b.customerName).sort(),
      names.filter((_, i) => results[i].status === "confirmed").sort(),
    );
  } finally {
    await store.close();
  }
});

Deno.test("book_slot: the same caller asking again (another call, another spelling) gets the existing booking", async () => {
  const store = await memoryStore();
  try {
    const tools = registry(store);
    const first = await bookSlot(tools, { customer_name: "Sam Lee" }, "CA1");
    assert.equal(first.status, "confirmed");
    // A second call from the same number, the same instant written in UTC.
    const again = await bookSlot(
      tools,
      { customer_name: "sam lee", start: "2026-03-03T15:00:00Z" },
      "CA2",
    );
    assert.equal(again.status, "already_booked");
    assert.equal(again.booking_id, first.booking_id);
    // The same caller booking the slot for someone else: a second booking.
    const other = await bookSlot(tools, { customer_name: "Alex Lee" }, "CA3");
    assert.equal(other.status, "confirmed");
    assert.notEqual(other.booking_id, first.booking_id);
    assert.equal((await store.findByPhone(CALLER)).length, 2);
  } finally {
    await store.close();
  }
});

Deno.test("book_slot: the description tells the model how to book for another person", () => {
  const def = registry({} as BookingStore).definitions().find((d) => d.name === "book_slot")!;
  assert.match(def.description, /same\s+person, service and time returns their existing booking/);
  assert.match(def.description, /already_booked/);
  assert.match(def.description, /someone else .* that person's own name/);
});

/** Every string in a JSON Schema, with its path. */
function stringSchemas(schema: unknown, path = ""): [string, Record<string, unknown>][] {
  if (!schema || typeof schema !== "object") return [];
  const s = schema as Record<string, unknown>;
  const here: [string, Record<string, unknown>][] = s.type === "string" ? [[path, s]] : [];
  const props = (s.properties ?? {}) as Record<string, unknown>;
  return [
    ...here,
    ...Object.entries(props).flatMap(([k, v]) => stringSchemas(v, `${path}.${k}`)),
  ];
}

Deno.test("tools: every string argument has a length bound the model is told about", () => {
  const tools = new ToolRegistry([
    ...bookingTools({ profile: testProfile(), store: {} as BookingStore }),
    ...callControlTools({ requestHangUp() {}, requestTransfer() {} }),
  ]);
  let strings = 0;
  for (const def of tools.definitions()) {
    for (const [path, s] of stringSchemas(def.parameters)) {
      strings++;
      const bounded = Array.isArray(s.enum) || typeof s.pattern === "string" ||
        (typeof s.maxLength === "number" && s.maxLength <= 200);
      assert.ok(bounded, `${def.name}${path} has no length bound: ${JSON.stringify(s)}`);
    }
  }
  assert.ok(strings >= 10);
});

Deno.test("book_slot: a 1 MB name is refused, control characters are stripped", async () => {
  const store = await memoryStore();
  try {
    const tools = registry(store);
    const huge = await tools.invoke(
      "book_slot",
      JSON.stringify({ service: "men's cut", start: TUE_10, customer_name: "x".repeat(1 << 20) }),
      ctx(),
    );
    assert.equal(!huge.ok && huge.error.code, "invalid_arguments");
    assert.ok(outcomeToOutput(huge).length < 1000, "no echo of the argument");
    const long = await tools.invoke(
      "book_slot",
      JSON.stringify({ service: "men's cut", start: TUE_10, customer_name: "x".repeat(150) }),
      ctx(),
    );
    assert.equal(!long.ok && long.error.code, "invalid_arguments");
    assert.deepEqual(await store.findByPhone(CALLER), []);
    const tricky = await bookSlot(tools, { customer_name: "Ann\u0000\u202e Lee\u0007\r\n" });
    assert.equal(tricky.status, "confirmed");
    assert.equal(tricky.customer_name, "Ann Lee");
    assert.equal((await store.findByPhone(CALLER))[0].customerName, "Ann Lee");
    const nothing = await tools.invoke(
      "book_slot",
      JSON.stringify({ service: "men's cut", start: TUE_10, customer_name: "\u0000\u200b " }),
      ctx(),
    );
    assert.equal(!nothing.ok && nothing.error.code, "invalid_arguments", "empty once cleaned");
    const oversized = await tools.invoke(
      "find_booking",
      " ".repeat(MAX_ARGUMENTS_CHARS + 1),
      ctx(),
    );
    assert.equal(!oversized.ok && oversized.error.code, "invalid_arguments");
  } finally {
    await store.close();
  }
});

/** Runs `fn` with the service's log captured. */
async function withLogs(fn: () => Promise<void>): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (r: LogRecord) => records.push(r) },
    loggers: [
      { category: ["voice-agent"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["memory"] },
    ],
  });
  try {
    await fn();
  } finally {
    await reset();
  }
  return records;
}

/** A real store with some methods replaced by failing ones. */
function failing(store: BookingStore, fail: Partial<Record<keyof BookingStore, Error>>) {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const error = fail[prop as keyof BookingStore];
      if (error) return () => Promise.reject(error);
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

Deno.test("tools: internal errors reach the model as a generic message; the log keeps the detail", async () => {
  const store = await memoryStore();
  try {
    const down = new Error("connect ECONNREFUSED 127.0.0.1:55432");
    const nul = new Error('invalid byte sequence for encoding "UTF8": 0x00');
    const tools = registry(failing(store, { findByPhone: down, cancel: down, book: nul }));
    let outputs: string[] = [];
    const logs = await withLogs(async () => {
      const results: ToolOutcome[] = [
        await tools.invoke("find_booking", "{}", ctx("CA_LOG")),
        await tools.invoke("cancel_booking", '{"booking_id":"K7M4QX"}', ctx("CA_LOG")),
        await tools.invoke(
          "book_slot",
          JSON.stringify({ service: "men's cut", start: TUE_10, customer_name: "Ann" }),
          ctx("CA_LOG"),
        ),
      ];
      outputs = results.map(outcomeToOutput);
    });
    for (const out of outputs) {
      assert.doesNotMatch(out, /ECONNREFUSED|55432|0x00|byte sequence|CA_LOG/, out);
    }
    assert.match(outputs[0], /internal problem/);
    const booked = JSON.parse(outputs[2]);
    assert.equal(booked.status, "unknown", "never a false confirmation or a false failure");
    const logged = JSON.stringify(logs.map((r) => r.properties));
    assert.match(logged, /ECONNREFUSED 127\.0\.0\.1:55432/);
    assert.match(logged, /0x00/);
    assert.ok(logs.every((r) => r.properties.callSid === "CA_LOG"), "call id on each line");
  } finally {
    await store.close();
  }
});

/** Waits `ms`. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Asserts that, once the lock was released, nothing was booked behind the answer, and that
 * book_slot answered in time that nothing was booked (the store gave up).
 */
async function assertNoGhost(
  store: BookingStore,
  out: ToolOutcome,
  answeredWithinMs: number,
  settleUntil: Promise<unknown>,
): Promise<void> {
  await settleUntil;
  await sleep(500);
  const answer = outcomeToOutput(out);
  const later = await store.findByPhone(CALLER);
  assert.deepEqual(later.map((b) => b.id), [], `booked after book_slot answered ${answer}`);
  assert.ok(out.ok, `a tool error (${answer}) says nothing about the booking`);
  const result = out.output as { status: string; reason?: string };
  assert.deepEqual([result.status, result.reason], ["not_booked", "busy"], answer);
  assert.ok(out.durationMs <= answeredWithinMs, `answered after ${out.durationMs} ms`);
}

Deno.test("book_slot on SQLite: the write lock held past the deadline leaves no ghost booking", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tools-ghost-" });
  const path = join(dir, "ghost.db");
  const store = await openStore(`sqlite:${path}`, testProfile(), { clock: () => MONDAY_7AM });
  const holder = new DatabaseSync(path);
  try {
    // Another process holds the write lock for 3 s; the tool's deadline is 2 s; the
    // store's own busy timeout (5 s) is longer than both.
    holder.exec("BEGIN IMMEDIATE");
    const released = sleep(3000).then(() => holder.exec("ROLLBACK"));
    const out = await registry(store, 2000).invoke(
      "book_slot",
      JSON.stringify({ service: "men's cut", start: TUE_10, customer_name: "Ann Lee" }),
      ctx(),
    ).finally(() => released);
    await assertNoGhost(store, out, 2100, released);
    const retry = await bookSlot(registry(store, 2000), { customer_name: "Ann Lee" });
    assert.equal(retry.status, "confirmed", "a retry once free books it");
  } finally {
    holder.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "book_slot on PostgreSQL: the day lock held 8 s by another session leaves no ghost booking",
  ignore: !pg,
  fn: async () => {
    const schema = freshPgSchema("tools_ghost");
    const store = await openStore(PG_TEST_URL, testProfile(), { clock: () => MONDAY_7AM, schema });
    try {
      const lock = await holdPgDayLock(schema, "2026-03-03", 8000);
      // The shipped tool deadline (5 s).
      const out = await registry(store).invoke(
        "book_slot",
        JSON.stringify({ service: "men's cut", start: TUE_10, customer_name: "Ann Lee" }),
        ctx(),
      );
      await assertNoGhost(store, out, 5100, lock.done);
      const retry = await bookSlot(registry(store), { customer_name: "Ann Lee" });
      assert.equal(retry.status, "confirmed", "a retry once free books it");
    } finally {
      await store.close();
      await dropPgSchema(schema);
    }
  },
});

Deno.test({
  name: "book_slot on PostgreSQL: a NUL in the name books with the name cleaned, no driver error",
  ignore: !pg,
  fn: async () => {
    const schema = freshPgSchema("tools_nul");
    const store = await openStore(PG_TEST_URL, testProfile(), { clock: () => MONDAY_7AM, schema });
    try {
      const out = await bookSlot(registry(store), { customer_name: "Ann\u0000Lee\ud800" });
      assert.equal(out.status, "confirmed", JSON.stringify(out));
      assert.equal(out.customer_name, "Ann Lee\ufffd");
    } finally {
      await store.close();
      await dropPgSchema(schema);
    }
  },
});

Deno.test("book_slot: after an unknown outcome, another person's booking at that time is not taken for this one", async () => {
  const store = await memoryStore();
  try {
    // The caller's partner already has 10:00 (same phone, same service, same time).
    const partner = await store.book({
      serviceId: "mens-cut",
      start: TUE_10,
      customerName: "Ben Example",
      customerPhone: CALLER,
    });
    assert.ok(partner.ok);
    // Booking Ann fails with an error: whether it committed is not known, so the tool looks.
    const tools = registry(failing(store, { book: new Error("connection reset") }));
    const out = await bookSlot(tools, {
      service: "men's cut",
      start: TUE_10,
      customer_name: "Ann",
    });
    assert.equal(out.status, "unknown", "Ben's booking is not Ann's confirmation");
    // Ann's own booking, had it committed, would be found and confirmed.
    const annBooked = await store.book({
      serviceId: "mens-cut",
      start: TUE_10,
      customerName: "Ann Example",
      customerPhone: CALLER,
    });
    assert.ok(annBooked.ok);
    const again = await bookSlot(tools, {
      service: "men's cut",
      start: TUE_10,
      customer_name: "Ann Example",
    });
    assert.equal(again.status, "confirmed");
    assert.equal(again.booking_id, annBooked.ok && annBooked.booking.id);
  } finally {
    await store.close();
  }
});
