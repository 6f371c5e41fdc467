/**
 * The console's view of the after-call work, on both store backends: the call list marks
 * flagged calls and filters them; the call page carries the summary, the claims with their
 * verdicts (mismatches first) and the recording (or its deletion); records from before the
 * feature show nothing of it.
 */
import assert from "node:assert/strict";
import type { CallRecord } from "../../src/call/record.ts";
import { afterCallView } from "../../src/console/after_call_view.ts";
import { BACKENDS } from "./backends.ts";
import { signIn } from "./client.ts";
import { startConsoleServer } from "./server.ts";

function record(callSid: string, startedAt: string, extra: Record<string, unknown>): CallRecord {
  return {
    callSid,
    from: "+15550001111",
    to: "+15559990000",
    startedAt,
    endedAt: new Date(Date.parse(startedAt) + 60_000).toISOString(),
    outcome: "booked",
    transcript: [],
    toolCalls: [],
    latency: {},
    bargeIns: [],
    extra,
  };
}

const flaggedExtra = {
  flagged: true,
  summary: {
    status: "ok",
    text: "Sam booked a men's cut.",
    intent: "book",
    outcome: "booked",
    followUp: { needed: true, reason: "the time said differs from the booking" },
  },
  promises: {
    checked: [
      {
        kind: "price",
        status: "verified",
        source: "summary",
        claim: { type: "price", service: "Men's cut", amount: 40 },
        truth: "Men's cut costs 40 USD",
      },
      {
        kind: "booking",
        status: "mismatch",
        source: "summary",
        claim: { type: "booking", service: "Men's cut", date: "2026-03-03", time: "15:00" },
        truth: "this call's confirmed bookings: Men's cut on 2026-03-03 at 14:00",
      },
      { kind: "bogus", status: "made-up", source: "summary", claim: {} },
    ],
    verified: 1,
    mismatches: 1,
    unverifiable: 0,
  },
  recording: {
    path: "/var/lib/voice-agent/recordings/2026-03-02/CAflag.wav",
    durationMs: 60_000,
    deletedAt: "2026-04-02T00:00:00.000Z",
    deletedBecause: "older than 30 days",
  },
};

for (const backend of BACKENDS) {
  Deno.test({
    name:
      `${backend.name}: console API: flagged calls are marked and filtered; the call page shows summary, claims, recording`,
    ignore: backend.ignore,
    async fn() {
      const c = await startConsoleServer({ backend: backend.name });
      try {
        await c.store.saveCall(record("CAflag", "2026-03-02T15:00:00.000Z", flaggedExtra));
        await c.store.saveCall(
          record("CAfine", "2026-03-02T16:00:00.000Z", {
            flagged: false,
            summary: { status: "ok" },
          }),
        );
        await c.store.saveCall(record("CAold", "2026-03-02T17:00:00.000Z", {}));
        const client = await signIn(c.base);
        const all = await client.api("calls", {});
        assert.equal(all.status, 200);
        assert.deepEqual(
          all.body.calls.map((x: { callSid: string; flagged: boolean }) => [x.callSid, x.flagged]),
          [["CAold", false], ["CAfine", false], ["CAflag", true]],
        );
        const flagged = await client.api("calls", { flagged: true });
        assert.deepEqual(flagged.body.calls.map((x: { callSid: string }) => x.callSid), ["CAflag"]);
        assert.equal(flagged.body.total, 1);

        const page = await client.api("call", { callSid: "CAflag" });
        assert.equal(page.status, 200);
        const a = page.body.afterCall;
        assert.equal(a.flagged, true);
        assert.equal(a.summary.text, "Sam booked a men's cut.");
        assert.deepEqual(a.summary.followUp, {
          needed: true,
          reason: "the time said differs from the booking",
        });
        assert.deepEqual(a.claims.map((x: { status: string }) => x.status), [
          "mismatch",
          "verified",
        ], "mismatches first; an unreadable entry is left out");
        assert.match(a.claims[0].truth, /at 14:00/);
        assert.equal(a.recording.deletedBecause, "older than 30 days");

        const old = await client.api("call", { callSid: "CAold" });
        assert.deepEqual(old.body.afterCall, {
          flagged: false,
          summary: null,
          claims: [],
          recording: null,
        });
      } finally {
        await c.close();
      }
    },
  });
}

Deno.test("console: the after-call view of a record with no summary says why", () => {
  const view = afterCallView(record("CAx", "2026-03-02T15:00:00.000Z", {
    summary: { status: "unavailable", note: "no summary: the model session had closed" },
    promises: { checked: "not a list" },
    recording: { path: "/r/CAx.wav", error: "cannot create the recording: denied" },
  }));
  assert.deepEqual(view.summary, {
    status: "unavailable",
    note: "no summary: the model session had closed",
    text: undefined,
    intent: undefined,
    outcome: undefined,
    followUp: undefined,
    error: undefined,
  });
  assert.deepEqual(view.claims, []);
  assert.equal(view.recording?.error, "cannot create the recording: denied");
  assert.equal(view.flagged, false);
});
