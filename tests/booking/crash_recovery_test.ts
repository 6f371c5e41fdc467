/**
 * A crash leaves call records `in_progress`; the next start marks those of calls that
 * cannot still be running `abandoned`, and leaves calls that may be live elsewhere alone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startApp } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { abandonCrashedCalls, openStore } from "../../src/booking/store.ts";
import type { CallRecord } from "../../src/call/record.ts";
import { testProfile } from "./fixtures.ts";

function inProgress(callSid: string, startedAt: Temporal.Instant): CallRecord {
  return {
    callSid,
    from: "+12125550199",
    to: "+12125550142",
    startedAt: startedAt.toString(),
    outcome: "in_progress",
    transcript: [],
    toolCalls: [],
    latency: {},
    bargeIns: [],
  };
}

Deno.test("crash recovery: only calls older than the longest possible call are abandoned", async () => {
  const store = await openStore("sqlite::memory:", testProfile());
  try {
    const now = Temporal.Instant.from("2026-03-02T12:00:00Z");
    await store.saveCall(inProgress("CA_OLD", now.subtract({ seconds: 1800 + 30 + 61 })));
    await store.saveCall(inProgress("CA_MAYBE_LIVE", now.subtract({ seconds: 1800 })));
    const limits = { maxCallSeconds: 1800, drainSeconds: 30 };
    assert.equal(await abandonCrashedCalls(store, limits, now), 1);
    assert.equal((await store.getCall("CA_OLD"))?.outcome, "abandoned");
    assert.equal((await store.getCall("CA_MAYBE_LIVE"))?.outcome, "in_progress");
  } finally {
    await store.close();
  }
});

Deno.test("crash recovery: the service marks crashed calls abandoned when it starts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crash-recovery-" });
  try {
    const url = `sqlite:${join(dir, "agent.db")}`;
    const before = await openStore(url, testProfile());
    await before.saveCall(inProgress("CA_CRASHED", Temporal.Now.instant().subtract({ hours: 3 })));
    await before.close();
    const app = await startApp({
      ...loadConfig({
        PUBLIC_URL: "http://127.0.0.1:8080",
        OPENAI_API_KEY: "sk-test",
        TWILIO_AUTH_TOKEN: "token",
        DATABASE_URL: url,
        HOST: "127.0.0.1",
        LOG_LEVEL: "fatal",
      }),
      port: 0,
    });
    try {
      const record = await app.store.getCall("CA_CRASHED");
      assert.equal(record?.outcome, "abandoned");
      assert.ok(record?.endedAt);
    } finally {
      await app.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
