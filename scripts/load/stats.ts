/**
 * Small numeric helpers for the load harness: a growable sample recorder with
 * percentiles, and readers for a process's CPU time, RSS and open descriptors in /proc.
 *
 * @module
 */
import os from "node:os";
import { Histogram } from "./histogram.mjs";

export { Histogram };

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
    if (this.#n === this.#data.length) this.#grow(this.#n + 1);
    this.#data[this.#n] = v;
    return this.#n++;
  }

  /** Stores `v` at `index`, growing the list; skipped indices hold NaN. */
  set(index: number, v: number): void {
    if (index >= this.#data.length) this.#grow(index + 1);
    if (index >= this.#n) {
      this.#data.fill(NaN, this.#n, index);
      this.#n = index + 1;
    }
    this.#data[index] = v;
  }

  #grow(atLeast: number): void {
    let size = this.#data.length * 2;
    while (size < atLeast) size *= 2;
    const bigger = new Float64Array(size);
    bigger.set(this.#data.subarray(0, this.#n));
    this.#data = bigger;
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

/** The 1, 5 and 15 minute load averages, from /proc/loadavg (e.g. "1.02 0.80 0.51"). */
export async function loadAverage(): Promise<string> {
  try {
    return (await readProc("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

/** Jiffies one CPU core has spent busy (anything but idle and I/O wait) and in total. */
export interface CoreTimes {
  busy: number;
  total: number;
}

/**
 * Busy and total time of every core since boot, from /proc/stat (`cpu0`, `cpu1`, ...), in
 * clock ticks: the difference of two readings gives how busy each core was in between,
 * whoever used it (the load runs share the machine with other jobs).
 */
export async function coreTimes(): Promise<CoreTimes[]> {
  const stat = await readProc("/proc/stat");
  const cores: CoreTimes[] = [];
  for (const line of stat.split("\n")) {
    if (!/^cpu\d+ /.test(line)) continue;
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9)
      .map(Number);
    const busy = user + nice + system + irq + softirq + (steal || 0);
    cores.push({ busy, total: busy + idle + iowait });
  }
  return cores;
}

/** Percent busy of each core between two {@linkcode coreTimes} readings. */
export function coreBusyPct(a: CoreTimes[], b: CoreTimes[]): number[] {
  return b.map((t, i) => {
    const total = t.total - (a[i]?.total ?? 0);
    return total > 0 ? (100 * (t.busy - (a[i]?.busy ?? 0))) / total : NaN;
  });
}
