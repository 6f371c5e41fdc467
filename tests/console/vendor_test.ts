/**
 * The vendored browser libraries are exactly the npm packages pinned in deno.json (run
 * `scripts/vendor_console.ts` after changing a version), and the console's units behave.
 */
import assert from "node:assert/strict";
import { VENDORED } from "../../scripts/vendored_files.ts";
import { consoleStaticUrl } from "../../src/console/static_files.ts";
import { qualitySeries } from "../../src/console/quality.ts";
import { LoginRateLimiter } from "../../src/console/rate_limit.ts";

Deno.test("console: vendored uPlot equals the pinned npm package", async () => {
  for (const file of VENDORED) {
    const copy = await Deno.readTextFile(consoleStaticUrl(`vendor/${file.name}`));
    assert.ok(copy === file.text, `${file.name} differs from the npm package; re-vendor it`);
  }
});

Deno.test("console: quality buckets follow the business clock across DST", () => {
  // 8 March 2026: New York springs forward, the day has 23 hours.
  const from = Temporal.Instant.from("2026-03-08T05:00:00Z");
  const to = Temporal.Instant.from("2026-03-09T04:00:00Z");
  const s = qualitySeries([], from, to, "America/New_York");
  assert.equal(s.times.length, 23);
  assert.deepEqual(s.totals.calls, 0);
  assert.equal(s.conversion.every((c) => c === null), true);
  // Half-hour zone: buckets start at local whole hours (xx:30 UTC).
  const india = qualitySeries(
    [{
      startedAt: "2026-03-02T04:40:00Z", // 10:10 in Kolkata
      outcome: "booked",
      booked: true,
      turnMs: [100, 300],
      bargeIns: 1,
      reconnects: 0,
      apology: false,
      toolErrors: 0,
    }],
    Temporal.Instant.from("2026-03-01T18:30:00Z"),
    Temporal.Instant.from("2026-03-02T18:30:00Z"),
    "Asia/Kolkata",
  );
  assert.equal(india.times.length, 24);
  assert.equal(india.times[10], Date.parse("2026-03-02T04:30:00Z") / 1000);
  assert.equal(india.calls[10], 1);
  assert.equal(india.latencyP95[10], 300);
});

Deno.test("console: the login limiter counts parallel attempts and forgets after the window", () => {
  let now = 0;
  const limiter = new LoginRateLimiter({ perClient: 2, global: 3, windowMs: 1000 }, () => now);
  const a1 = limiter.begin("a");
  const a2 = limiter.begin("a");
  assert.ok(a1.allowed && a2.allowed);
  const a3 = limiter.begin("a"); // both still in flight: counted
  assert.equal(a3.allowed, false);
  assert.ok(limiter.begin("b").allowed);
  const c = limiter.begin("c"); // the global limit of 3 failures is reached
  assert.equal(c.allowed, false);
  if (a1.allowed) a1.succeeded(); // a right password clears a's failures
  assert.ok(limiter.begin("a").allowed);
  now = 1001;
  assert.ok(limiter.begin("c").allowed);
});
