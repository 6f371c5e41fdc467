import assert from "node:assert/strict";
import { Float64List, Histogram, Samples } from "../../scripts/load/stats.ts";

Deno.test("load stats: the constant-memory histogram agrees with exact percentiles", () => {
  // A latency-like mix: mostly tens of µs, a tail in ms, a few long pauses.
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const exact = new Samples();
  const histogram = new Histogram();
  for (let i = 0; i < 50_000; i++) {
    const r = random();
    const ms = r < 0.95
      ? 0.005 + random() * 0.1
      : r < 0.999
      ? 1 + random() * 30
      : 100 + random() * 900;
    exact.add(ms);
    histogram.add(ms);
  }
  const e = exact.summary();
  const h = histogram.summary();
  assert.equal(h.count, e.count);
  assert.equal(h.max, e.max);
  assert.ok(Math.abs(h.mean - e.mean) < 1e-9 * e.mean);
  // Below 1 ms: within one 1 µs bucket; above: within 1 %.
  assert.ok(Math.abs(h.p50 - e.p50) <= 0.001, `p50 ${h.p50} vs ${e.p50}`);
  assert.ok(Math.abs(h.p99 - e.p99) <= 0.01 * e.p99, `p99 ${h.p99} vs ${e.p99}`);
  assert.ok(h.p99 >= e.p99, "the p99 is the bucket's upper edge: never flattering");
  histogram.clear();
  assert.equal(histogram.summary().count, 0);
  assert.ok(Number.isNaN(histogram.summary().p99));
});

Deno.test("load stats: Float64List stores by index, gaps read as NaN", () => {
  const list = new Float64List();
  assert.equal(list.push(1.5), 0);
  list.set(3, 7);
  assert.equal(list.length, 4);
  assert.ok(Number.isNaN(list.at(1)) && Number.isNaN(list.at(2)));
  assert.equal(list.at(3), 7);
  list.set(1, 2);
  assert.equal(list.at(1), 2);
  // Past the first allocation, with a gap larger than one doubling.
  list.set(5000, 9);
  assert.equal(list.length, 5001);
  assert.ok(Number.isNaN(list.at(4999)));
  assert.deepEqual(Array.from(list.values().subarray(0, 4)), [1.5, 2, NaN, 7]);
  assert.ok(Number.isNaN(list.at(6000)));
});
