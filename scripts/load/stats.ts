/**
 * Small numeric helpers for the load harness: a growable sample recorder with
 * percentiles, and readers for a process's CPU time, RSS and open descriptors in /proc.
 *
 * @module
 */
import os from "node:os";

/** A growable list of numbers in one `Float64Array` (no object per value). */
export class Float64List {
  #data = new Float64Array(1024);
  #n = 0;

  /** Values stored. */
  get length(): number {
    return this.#n;
  }

  /** Appends a value; returns its index. */
  push(v: number): number {
    if (this.#n === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#n] = v;
    return this.#n++;
  }

  /** The value at `index` (NaN past the end). */
  at(index: number): number {
    return index < this.#n ? this.#data[index] : NaN;
  }

  /** Forgets every value (keeps the storage). */
  clear(): void {
    this.#n = 0;
  }

  /** A copy of the values, in order. */
  values(): Float64Array {
    return this.#data.slice(0, this.#n);
  }
}

/** Collects numeric samples (ms) and reports percentiles. */
export class Samples {
  readonly #values = new Float64List();

  /** Number of samples. */
  get count(): number {
    return this.#values.length;
  }

  /** Adds one sample. */
  add(v: number): void {
    this.#values.push(v);
  }

  /** Forgets every sample. */
  clear(): void {
    this.#values.clear();
  }

  /** p50, p99, max and mean (NaN when empty). */
  summary(): Summary {
    if (this.count === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
    const sorted = this.#values.values().sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: sorted.length,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted[sorted.length - 1],
      mean: sum / sorted.length,
    };
  }
}

/** A distribution in brief. */
export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Histogram resolution: 1 µs steps below 1 ms, then steps of 1 % of the value. */
const LINEAR_US = 1000;
const LOG_STEP = Math.log(1.01);
/** Buckets up to ~1000 s. */
const LOG_BUCKETS = Math.ceil(Math.log(1e6) / LOG_STEP) + 1;

/**
 * Constant-memory latency recorder (ms) for code that runs inside the process being
 * measured, where {@linkcode Samples} (8 bytes per sample, kept) would itself grow the
 * heap over a long soak. Percentiles are exact to 1 µs below 1 ms and to 1 % above;
 * count, max and mean are exact.
 */
export class Histogram {
  readonly #buckets = new Float64Array(LINEAR_US + LOG_BUCKETS);
  #n = 0;
  #max = -Infinity;
  #sum = 0;

  /** Number of samples. */
  get count(): number {
    return this.#n;
  }

  /** Adds one sample (ms). */
  add(ms: number): void {
    const us = Math.max(0, ms * 1000);
    const i = us < LINEAR_US
      ? Math.floor(us)
      : LINEAR_US + Math.min(LOG_BUCKETS - 1, Math.floor(Math.log(us / LINEAR_US) / LOG_STEP));
    this.#buckets[i]++;
    this.#n++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  /** Forgets every sample. */
  clear(): void {
    this.#buckets.fill(0);
    this.#n = 0;
    this.#max = -Infinity;
    this.#sum = 0;
  }

  /** p50, p99 (upper edge of the bucket, capped at the max), max and mean. */
  summary(): Summary {
    if (this.#n === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
    return {
      count: this.#n,
      p50: this.#percentile(0.5),
      p99: this.#percentile(0.99),
      max: this.#max,
      mean: this.#sum / this.#n,
    };
  }

  #percentile(p: number): number {
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

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const USER_HZ = 100;

/**
 * Reads a file under /proc/<pid>. Deno asks for full access to read another process's
 * /proc files directly; without it (e.g. under `deno test` with the usual flags) `cat`
 * reads them.
 */
async function readProc(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (
      !(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)
    ) {
      throw error;
    }
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped" }).output();
    return new TextDecoder().decode(out.stdout);
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readProc(`/proc/${pid}/stat`);
  // The command name (field 2) may contain spaces; fields after it are space separated.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the name.
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readProc(`/proc/${pid}/status`);
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Open file descriptors (sockets, files, pipes) of a process. */
export async function openFds(pid: number): Promise<number> {
  try {
    let n = 0;
    for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
    return n;
  } catch {
    const out = await new Deno.Command("ls", { args: [`/proc/${pid}/fd`], stdout: "piped" })
      .output();
    return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).length;
  }
}

/** Event-loop lag: drift of a repeating timer, recorded in a {@linkcode Histogram}. */
export class LoopLag {
  readonly samples: Histogram = new Histogram();
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;

  /** Starts sampling every `intervalMs`. */
  start(intervalMs = 10): void {
    this.#last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.samples.add(Math.max(0, now - this.#last - intervalMs));
      this.#last = now;
    }, intervalMs);
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Machine facts for the report: core count, CPU model and memory. (Deno asks for
 * --allow-all to read /proc/cpuinfo, so these come from node:os and Deno's sys API.)
 */
export function machineInfo(): { cpus: number; model: string; memGiB: number } {
  const cpus = os.cpus();
  return {
    cpus: cpus.length || navigator.hardwareConcurrency,
    model: cpus[0]?.model?.trim() || "unknown",
    memGiB: Deno.systemMemoryInfo().total / 1024 ** 3,
  };
}
