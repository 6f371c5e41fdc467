/**
 * A constant-memory latency recorder (ms), in plain JavaScript so that the same code runs
 * in the Deno processes (`stats.ts` re-exports it) and in the public sample's Node process
 * (`node_probe.mjs`): both bridges' in-bridge figures come out of the same buckets.
 *
 * @module
 */

/** Histogram resolution: 1 µs steps below 1 ms, then steps of 1 % of the value. */
const LINEAR_US = 1000;
const LOG_STEP = Math.log(1.01);
/** Buckets up to ~1000 s. */
const LOG_BUCKETS = Math.ceil(Math.log(1e6) / LOG_STEP) + 1;

/**
 * A distribution in brief.
 *
 * @typedef {{ count: number, p50: number, p99: number, max: number, mean: number }} HistogramSummary
 */

/**
 * Constant-memory latency recorder (ms) for code that runs inside the process being
 * measured, where keeping every sample (8 bytes each) would itself grow the heap over a
 * long soak. Percentiles are exact to 1 µs below 1 ms and to 1 % above; count, max and
 * mean are exact.
 */
export class Histogram {
  #buckets = new Float64Array(LINEAR_US + LOG_BUCKETS);
  #n = 0;
  #max = -Infinity;
  #sum = 0;

  /**
   * Number of samples.
   *
   * @returns {number}
   */
  get count() {
    return this.#n;
  }

  /**
   * Adds one sample (ms).
   *
   * @param {number} ms
   * @returns {void}
   */
  add(ms) {
    const us = Math.max(0, ms * 1000);
    const i = us < LINEAR_US
      ? Math.floor(us)
      : LINEAR_US + Math.min(LOG_BUCKETS - 1, Math.floor(Math.log(us / LINEAR_US) / LOG_STEP));
    this.#buckets[i]++;
    this.#n++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  /**
   * Forgets every sample.
   *
   * @returns {void}
   */
  clear() {
    this.#buckets.fill(0);
    this.#n = 0;
    this.#max = -Infinity;
    this.#sum = 0;
  }

  /**
   * p50, p99 (upper edge of the bucket, capped at the max), max and mean (NaN when empty).
   *
   * @returns {HistogramSummary}
   */
  summary() {
    if (this.#n === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
    return {
      count: this.#n,
      p50: this.#percentile(0.5),
      p99: this.#percentile(0.99),
      max: this.#max,
      mean: this.#sum / this.#n,
    };
  }

  /**
   * @param {number} p
   * @returns {number}
   */
  #percentile(p) {
    const rank = Math.max(1, Math.ceil(p * this.#n));
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i];
      if (seen >= rank) {
        const upperUs = i < LINEAR_US
          ? i + 1
          : LINEAR_US * Math.exp((i - LINEAR_US + 1) * LOG_STEP);
        return Math.min(this.#max, upperUs / 1000);
      }
    }
    return this.#max;
  }
}
