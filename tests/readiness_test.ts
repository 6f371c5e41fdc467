/**
 * `/readyz` tells the truth about the database, fast and in fixed words (issue 20): a
 * hung database is reported within about a second, an unreachable one without its error
 * text, and a database that answers pings but refuses writes (read-only) is not ready.
 * Also: whether Twilio signatures are checked shows on `/readyz` and in a metric.
 */
import assert from "node:assert/strict";
import { startHarness } from "./support/harness.ts";
import { checkReadiness, WRITE_FAILURE_WINDOW_MS, WriteHealth } from "../src/readiness.ts";
import type { CallRecord } from "../src/call/record.ts";
import { StoreBusyError } from "../src/booking/store_core.ts";
import { VirtualClock } from "./support/virtual_clock.ts";

async function readyz(baseUrl: string, timeoutMs = 5000) {
  const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

const RECORD: CallRecord = {
  callSid: "CA" + "5".repeat(32),
  from: "+15550001111",
  to: "+15559990000",
  startedAt: new Date().toISOString(),
  outcome: "in_progress",
  transcript: [],
  toolCalls: [],
  latency: {},
  bargeIns: [],
};

type Patchable = Record<string, unknown>;

Deno.test("readyz: a hung database is reported within about a second", async () => {
  const h = await startHarness();
  const { promise: hung, resolve: unhang } = Promise.withResolvers<void>();
  try {
    const store = h.app.store as unknown as Patchable;
    store.ping = () => hung; // PostgreSQL stopped answering
    const started = performance.now();
    const { status, body } = await readyz(h.app.baseUrl);
    assert.ok(performance.now() - started < 2500, "answered within the timeout");
    assert.equal(status, 503);
    assert.equal(JSON.parse(body).checks.database, "not answering");
    delete store.ping;
    assert.equal((await readyz(h.app.baseUrl)).status, 200);
  } finally {
    unhang(); // a handler still waiting would hold the shutdown
    await h.close();
  }
});

Deno.test("readyz: an unreachable database is 503 with a generic text, never the error", async () => {
  await using h = await startHarness();
  const store = h.app.store as unknown as Patchable;
  store.ping = () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:55432"));
  const { status, body } = await readyz(h.app.baseUrl);
  assert.equal(status, 503);
  assert.equal(JSON.parse(body).checks.database, "unreachable");
  assert.doesNotMatch(body, /ECONNREFUSED|55432|127\.0\.0\.1/);
  delete store.ping;
});

Deno.test("readyz: a database that answers pings but refuses writes is not ready", async () => {
  await using h = await startHarness();
  assert.equal((await readyz(h.app.baseUrl)).status, 200);
  const store = h.app.store as unknown as Patchable;
  const readOnly = () => Promise.reject(new Error("attempt to write a readonly database"));
  store.saveCall = readOnly;
  store.abandonStaleCalls = readOnly;
  await assert.rejects(h.app.store.saveCall(RECORD));
  const { status, body } = await readyz(h.app.baseUrl);
  assert.equal(status, 503);
  assert.equal(JSON.parse(body).checks.database, "writes failing");
  assert.doesNotMatch(body, /readonly/);
  // Writes work again: the next successful write makes it ready at once.
  delete store.saveCall;
  delete store.abandonStaleCalls;
  await h.app.store.saveCall(RECORD);
  assert.equal((await readyz(h.app.baseUrl)).status, 200);
});

Deno.test("readiness: after a write failure, a working write probe clears it once the window passed", async () => {
  const clock = new VirtualClock();
  const writes = new WriteHealth(clock);
  let writable = false;
  const store = {
    ping: () => Promise.resolve(),
    abandonStaleCalls: () =>
      writable ? Promise.resolve(0) : Promise.reject(new Error("disk I/O error")),
  };
  const check = () => checkReadiness({ store, writes, draining: () => false });
  writes.failed(new StoreBusyError());
  assert.equal((await check()).ready, true, "a busy lock is contention, not a failure");
  writes.failed(new Error("disk I/O error"));
  assert.equal((await check()).checks.database, "writes failing");
  writable = true;
  await clock.advance(WRITE_FAILURE_WINDOW_MS - 1000);
  assert.equal((await check()).ready, false, "still within the window");
  await clock.advance(2000);
  assert.deepEqual(await check(), { ready: true, checks: { draining: "no", database: "ok" } });
  writable = false;
  writes.failed(new Error("disk I/O error"));
  await clock.advance(WRITE_FAILURE_WINDOW_MS * 2);
  assert.equal((await check()).ready, false, "the probe keeps failing: still not ready");
});

Deno.test("readyz and metrics show when Twilio signatures are not checked", async () => {
  await using h = await startHarness({
    env: { TWILIO_VALIDATE_SIGNATURES: "false", TWILIO_ALLOW_UNSIGNED: "true" },
  });
  const { status, body } = await readyz(h.app.baseUrl);
  assert.equal(status, 200);
  assert.equal(JSON.parse(body).checks.twilioSignatures, "NOT CHECKED");
  const metrics = await (await fetch(`${h.app.baseUrl}/metrics`)).text();
  assert.match(metrics, /^voice_twilio_signatures_checked 0$/m);
  await using checked = await startHarness();
  assert.equal(
    JSON.parse((await readyz(checked.app.baseUrl)).body).checks.twilioSignatures,
    "checked",
  );
  const checkedMetrics = await (await fetch(`${checked.app.baseUrl}/metrics`)).text();
  assert.match(checkedMetrics, /^voice_twilio_signatures_checked 1$/m);
});
