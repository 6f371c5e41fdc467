/**
 * Recording retention against a real store: recordings last written more than
 * `RECORDING_RETENTION_DAYS` ago are deleted, logged and marked on their call record;
 * younger ones, and files that are not recordings, stay.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { LogRecord } from "@logtape/logtape";
import { DEFAULT_BUSINESS_FILE, loadBusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import { resetLogging, setupLogging } from "../../src/log.ts";
import { logger } from "../../src/log.ts";
import { RecordingRetention } from "../../src/recording/retention.ts";
import type { CallRecord } from "../../src/call/record.ts";
import { VirtualClock } from "../support/virtual_clock.ts";

const DAY = 24 * 60 * 60 * 1000;

function record(callSid: string, path: string): CallRecord {
  return {
    callSid,
    from: "+15550001111",
    to: "+15559990000",
    startedAt: "2026-10-01T15:00:00.000Z",
    endedAt: "2026-10-01T15:05:00.000Z",
    outcome: "booked",
    transcript: [{ role: "agent", text: "Hello.", at: "2026-10-01T15:00:01.000Z" }],
    toolCalls: [],
    latency: {},
    bargeIns: [],
    extra: { recording: { path, format: "wav/pcm16/8000/stereo" }, endReason: "caller_hung_up" },
  };
}

Deno.test("retention: recordings older than the retention are deleted, logged and marked on their call record", async () => {
  const dir = await Deno.makeTempDir();
  const store = await openStore("sqlite::memory:", loadBusinessProfile(DEFAULT_BUSINESS_FILE));
  const lines: string[] = [];
  await setupLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
  try {
    const now = Date.UTC(2026, 10, 27, 12, 0);
    const old = join(dir, "2026-10-01", "CAold.wav");
    const young = join(dir, "2026-11-20", "CAyoung.wav");
    const stranger = join(dir, "2026-10-01", "notes.txt");
    for (const p of [old, young, stranger]) {
      await Deno.mkdir(join(p, ".."), { recursive: true });
      await Deno.writeFile(p, new Uint8Array(44));
    }
    await Deno.utime(old, new Date(now - 31 * DAY), new Date(now - 31 * DAY));
    await Deno.utime(stranger, new Date(now - 90 * DAY), new Date(now - 90 * DAY));
    await Deno.utime(young, new Date(now - 29 * DAY), new Date(now - 29 * DAY));
    await store.saveCall(record("CAold", old));
    await store.saveCall(record("CAyoung", young));
    let deleted = 0;
    const sweeper = new RecordingRetention({
      dir,
      retentionDays: 30,
      records: store,
      log: logger("test", "retention"),
      clock: new VirtualClock(now),
      onDeleted: () => deleted++,
    });
    const result = await sweeper.sweep(now);

    assert.deepEqual(result, { deleted: [old], failed: 0 });
    assert.equal(deleted, 1);
    await assert.rejects(() => Deno.stat(old), Deno.errors.NotFound);
    assert.ok((await Deno.stat(young)).isFile, "a 29-day-old recording stays");
    assert.ok((await Deno.stat(stranger)).isFile, "only recordings are touched");
    const marked = await store.getCall("CAold");
    assert.deepEqual(marked?.extra?.recording, {
      path: old,
      format: "wav/pcm16/8000/stereo",
      deletedAt: new Date(now).toISOString(),
      deletedBecause: "older than 30 days",
    });
    assert.equal(marked?.transcript.length, 1, "the rest of the record is kept");
    assert.equal(marked?.outcome, "booked");
    const kept = (await store.getCall("CAyoung"))?.extra?.recording as Record<string, unknown>;
    assert.equal(kept.deletedAt, undefined);
    const logged = lines.map((l) => JSON.parse(l) as LogRecord & { message: string });
    assert.ok(
      logged.some((l) => /deleted the recording of call CAold: older than 30 days/.test(l.message)),
      lines.join("\n"),
    );
  } finally {
    await resetLogging();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("retention: the sweep repeats on its clock, removes emptied day folders, and a missing directory is fine", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clock = new VirtualClock(Date.UTC(2026, 10, 27, 12, 0));
    const saved: CallRecord[] = [];
    const sweeper = new RecordingRetention({
      dir,
      retentionDays: 1,
      records: {
        getCall: () => Promise.resolve(undefined),
        saveCall: (r) => (saved.push(r), Promise.resolve()),
      },
      log: logger("test", "retention"),
      clock,
      everyMs: 60_000,
    });
    sweeper.start();
    await clock.advance(10);
    const day = join(dir, "2026-11-27");
    await Deno.mkdir(day);
    const file = join(day, "CA1.wav");
    await Deno.writeFile(file, new Uint8Array(44));
    const past = new Date(clock.wallNow() - 2 * DAY);
    await Deno.utime(file, past, past);
    await clock.advance(60_000); // the next sweep
    await sweeper.stop();
    await assert.rejects(() => Deno.stat(file), Deno.errors.NotFound);
    await assert.rejects(() => Deno.stat(day), Deno.errors.NotFound, "the emptied folder is gone");
    assert.equal(saved.length, 0, "no record to mark");

    const missing = new RecordingRetention({
      dir: join(dir, "never-created"),
      retentionDays: 1,
      records: { getCall: () => Promise.resolve(undefined), saveCall: () => Promise.resolve() },
      log: logger("test", "retention"),
    });
    assert.deepEqual(await missing.sweep(), { deleted: [], failed: 0 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
