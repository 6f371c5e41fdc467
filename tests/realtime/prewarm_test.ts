/** PrewarmPool against the fake: hand-off, expiry of unclaimed sessions, fallbacks. */
import assert from "node:assert/strict";
import { type FakeRealtime, startFakeRealtime } from "../../scripts/sim/fake_realtime.ts";
import { RealtimeConnection } from "../../src/realtime/connection.ts";
import { PrewarmPool } from "../../src/realtime/prewarm.ts";
import { buildSessionConfig } from "../../src/realtime/session_config.ts";
import { turnFrames } from "./helpers.ts";

const sessionConfig = buildSessionConfig({
  model: "gpt-realtime",
  voice: "marin",
  audioFormat: "pcmu",
  instructions: "Receptionist.",
  tools: [],
  vad: { type: "semantic_vad", eagerness: "auto" },
});

const factory = (fake: FakeRealtime, apiKey = "test-key") => () =>
  new RealtimeConnection({
    url: fake.url,
    model: "gpt-realtime",
    apiKey,
    sessionConfig,
    backoff: { initialMs: 10, maxMs: 10, maxAttempts: 2, maxTotalMs: 1000 },
  });

Deno.test("pre-warm: the warmed, configured session is handed to the call and used", async () => {
  const fake = await startFakeRealtime({ transcripts: ["Hello?"] });
  const pool = new PrewarmPool({ ttlMs: 5000 });
  try {
    assert.equal(pool.warm("CA1", factory(fake)), true);
    assert.equal(pool.warm("CA1", factory(fake)), false); // Twilio retried the webhook
    await fake.waitFor(
      () => fake.sessions[0]?.serverEvents.includes("session.updated"),
      2000,
      "configured",
    );
    const conn = await pool.claim("CA1");
    assert.ok(conn);
    assert.equal(conn.state, "open");
    assert.equal(await pool.claim("CA1"), undefined); // handed over once
    for (const f of turnFrames("pcmu")) conn.appendAudio(f);
    await fake.waitFor(
      () => fake.sessions[0].serverEvents.includes("response.done"),
      3000,
      "answer",
    );
    assert.equal(fake.sessions.length, 1); // no second connection was needed
    assert.deepEqual({ ...pool.stats }, {
      warmed: 1,
      claimed: 1,
      expired: 0,
      failed: 0,
      rejected: 0,
    });
    conn.close();
    await fake.waitFor(() => fake.sessions[0].closed, 2000, "closed");
  } finally {
    await pool.closeAll();
    await fake.close();
  }
});

Deno.test("pre-warm: a claim while still connecting waits for the session", async () => {
  const fake = await startFakeRealtime();
  const pool = new PrewarmPool();
  try {
    pool.warm("CA2", factory(fake));
    const conn = await pool.claim("CA2"); // immediately, before the socket even opened
    assert.equal(conn?.state, "open");
    conn!.close();
    await fake.waitFor(() => fake.sessions[0].closed, 2000, "closed");
  } finally {
    await pool.closeAll();
    await fake.close();
  }
});

Deno.test("pre-warm: unclaimed sessions close after the timeout", async () => {
  const fake = await startFakeRealtime();
  const pool = new PrewarmPool({ ttlMs: 150 });
  try {
    pool.warm("CA3", factory(fake));
    await fake.waitFor(
      () => fake.sessions[0]?.serverEvents.includes("session.updated"),
      2000,
      "configured",
    );
    await fake.waitFor(() => fake.sessions[0].closed, 2000, "expired and closed");
    assert.equal(fake.sessions[0].closeCode, 1000); // closed by the client, not dropped
    assert.equal(pool.size, 0);
    assert.equal(pool.stats.expired, 1);
    // The stream landed late (or on this instance after all): nothing to claim, go fresh.
    assert.equal(await pool.claim("CA3"), undefined);
  } finally {
    await pool.closeAll();
    await fake.close();
  }
});

Deno.test("pre-warm: a failed warm-up or unknown CallSid falls back to a fresh connection", async () => {
  const fake = await startFakeRealtime();
  const pool = new PrewarmPool();
  try {
    pool.warm("CA4", factory(fake, "wrong-key"));
    assert.equal(await pool.claim("CA4"), undefined);
    assert.equal(pool.stats.failed, 1);
    assert.equal(await pool.claim("CA-other-instance"), undefined);
    const fresh = factory(fake)();
    await fresh.connect();
    assert.equal(fresh.state, "open");
    fresh.close();
    await fake.waitFor(() => fake.sessions.every((s) => s.closed), 2000, "closed");
  } finally {
    await pool.closeAll();
    await fake.close();
  }
});

Deno.test("pre-warm: closeAll closes every unclaimed session; the pool is bounded", async () => {
  const fake = await startFakeRealtime();
  const pool = new PrewarmPool({ maxEntries: 2 });
  try {
    assert.equal(pool.warm("A", factory(fake)), true);
    assert.equal(pool.warm("B", factory(fake)), true);
    assert.equal(pool.warm("C", factory(fake)), false);
    assert.equal(pool.stats.rejected, 1);
    await fake.waitFor(() => fake.sessions.length === 2, 2000, "two sessions");
    await pool.closeAll();
    assert.equal(pool.size, 0);
    await fake.waitFor(() => fake.sessions.every((s) => s.closed), 2000, "closed");
  } finally {
    await fake.close();
  }
});
