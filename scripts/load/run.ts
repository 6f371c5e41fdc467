/**
 * `deno task bench:load`: our bridge against the public Twilio sample (Node 20, fastify +
 * ws) and the minimal Deno bridge written the sample's way, in one run, with the same fake
 * model and the same callers (both spread over several processes). Prints the comparison
 * (a table per number of calls, ratios to the sample), the targets and the detailed
 * tables, and writes them to `BENCHMARKS_load.md`.
 *
 * ```sh
 * deno task bench:load                         # 50 and 100 calls: sample, ours pcmu/pcm16, baseline
 * deno task bench:load --calls=200 --seconds=30 --bridges=sample,ours-pcmu
 * deno task bench:load --capacity              # calls one core carries: ours pcmu and the sample
 * deno task bench:load --soak                  # ours, 100 calls for 10 minutes
 * # the model socket's client, with the fake model 40 ms away each way (root; netdelay.py):
 * deno task bench:load --calls=50 --bridges=ours-pcmu-builtin,ours-pcmu-ws --model-delay-ms=40
 * ```
 *
 * Options: `--caller-procs=N --model-procs=N` (harness processes; default one per 100
 * calls, 1-4), `--pin` (pin the bridge to the last core and the harness to the others with
 * `taskset`; on by default for `--capacity`), `--server-cpus=LIST --harness-cpus=LIST`,
 * `--server-nice=N`, `--harness-nice=N` (run the bridge or the harness under `nice -n N`,
 * e.g. -10 as root, so other jobs on a shared machine take less of their cores).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type LoadOptions, type LoadResult, runLoad } from "./load_run.ts";
import {
  callsPerCoreByCpu,
  capacityBreak,
  type CapacityStep,
  capacityTable,
  comparisonTable,
  endToEndTable,
  harnessLimit,
  inBridgeTable,
  type Measured,
  targetsTable,
} from "./report.ts";
import { SampleUnavailable } from "./sample_bridge.ts";
import { machineInfo } from "./stats.ts";

interface Variant {
  label: string;
  options: Pick<
    LoadOptions,
    "bridge" | "format" | "ws" | "markIntervalMs" | "probe" | "src" | "serviceFlags"
  >;
}

const VARIANTS: Record<string, Variant> = {
  sample: { label: "public sample (Node)", options: { bridge: "sample", format: "pcmu" } },
  "ours-pcmu": { label: "ours pcmu", options: { bridge: "ours", format: "pcmu" } },
  "ours-pcm16": { label: "ours pcm16", options: { bridge: "ours", format: "pcm16" } },
  baseline: { label: "Deno baseline (pcmu)", options: { bridge: "baseline", format: "pcmu" } },
  // Without the in-bridge probe, to see what it costs (its figures are then empty).
  "sample-no-probe": {
    label: "public sample, no probe",
    options: { bridge: "sample", format: "pcmu", probe: false },
  },
  "baseline-no-probe": {
    label: "Deno baseline (pcmu), no probe",
    options: { bridge: "baseline", format: "pcmu", probe: false },
  },
  "ours-pcmu-no-probe": {
    label: "ours pcmu, no probe",
    options: { bridge: "ours", format: "pcmu", probe: false },
  },
  // The product before marks were thinned: a mark (and its echo) after every chunk.
  "ours-pcmu-mark-every-chunk": {
    label: "ours pcmu, a mark after every chunk (before)",
    options: { bridge: "ours", format: "pcmu", markIntervalMs: 0 },
  },
  // The model socket's client, named (ours-pcmu runs the product's default).
  "ours-pcmu-ws": {
    label: "ours pcmu, model socket on npm ws",
    options: { bridge: "ours", format: "pcmu", ws: "ws" },
  },
  "ours-pcmu-builtin": {
    label: "ours pcmu, model socket on Deno's WebSocket",
    options: { bridge: "ours", format: "pcmu", ws: "builtin" },
  },
  // Our bridge at another commit, for "no regression" runs: LOAD_BEFORE_SRC=/path/to/old/src
  // (e.g. `git worktree add /tmp/before <commit>`, then LOAD_BEFORE_SRC=/tmp/before/src).
  "ours-pcmu-before": {
    label: `ours pcmu at ${Deno.env.get("LOAD_BEFORE_LABEL") ?? "LOAD_BEFORE_SRC"}`,
    options: { bridge: "ours", format: "pcmu", src: Deno.env.get("LOAD_BEFORE_SRC") ?? "" },
  },
  // Ours without the service's runtime flags (SERVICE_FLAGS): V8's default young generation.
  "ours-pcmu-default-flags": {
    label: "ours pcmu, without the service's runtime flags",
    options: { bridge: "ours", format: "pcmu", serviceFlags: false },
  },
  // An experiment, not the product: the model socket with Nagle off (see nodelay_websocket.ts).
  "ours-pcmu-nodelay": {
    label: "ours pcmu, TCP_NODELAY model socket (experiment)",
    options: { bridge: "ours", format: "pcmu", ws: "nodelay" },
  },
};

const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : "-");
const say = (s: string) => console.error(`  ${s}`);

function variant(key: string): Variant {
  const v = VARIANTS[key];
  if (!v) throw new Error(`unknown bridge ${key}: ${Object.keys(VARIANTS).join(", ")}`);
  if (key === "ours-pcmu-before" && !v.options.src) {
    throw new Error("ours-pcmu-before needs LOAD_BEFORE_SRC (another checkout's src/ directory)");
  }
  return v;
}

/** Whether `taskset` can run here. */
async function hasTaskset(): Promise<boolean> {
  try {
    return (await new Deno.Command("taskset", { args: ["-p", String(Deno.pid)] }).output())
      .success;
  } catch {
    return false;
  }
}

/** CPU lists for the bridge (the last core) and the harness (the others). */
async function pinning(
  values: { pin?: boolean; "server-cpus"?: string; "harness-cpus"?: string },
  byDefault: boolean,
): Promise<{ serverCpus?: string; harnessCpus?: string; note: string }> {
  if (values["server-cpus"] || values["harness-cpus"]) {
    return {
      serverCpus: values["server-cpus"],
      harnessCpus: values["harness-cpus"],
      note: `bridge on CPUs ${values["server-cpus"] ?? "any"}, harness on ${
        values["harness-cpus"] ?? "any"
      }`,
    };
  }
  const cores = navigator.hardwareConcurrency;
  if (!(values.pin ?? byDefault)) return { note: "no CPU pinning" };
  if (cores < 2 || !(await hasTaskset())) {
    return { note: "no CPU pinning (needs taskset and 2 cores)" };
  }
  const serverCpus = String(cores - 1);
  const harnessCpus = cores === 2 ? "0" : `0-${cores - 2}`;
  return {
    serverCpus,
    harnessCpus,
    note: `bridge pinned to CPU ${serverCpus}, harness to CPU ${harnessCpus} (taskset)`,
  };
}

/** CPUs in a `taskset -c` list such as "0", "0-2" or "0,3" (0 when not pinned). */
function cpuCount(list: string | undefined): number {
  if (!list) return 0;
  return list.split(",").reduce((n, part) => {
    const [a, b] = part.split("-").map(Number);
    return n + (b === undefined ? 1 : b - a + 1);
  }, 0);
}

/** Runs one variant, or says why it could not (the sample needs Node and npm). */
async function measure(key: string, n: number, options: Partial<LoadOptions>): Promise<Measured> {
  const v = variant(key);
  console.error(`N=${n} ${v.label}`);
  try {
    const result = await runLoad({
      ...v.options,
      calls: n,
      seconds: 15,
      progress: say,
      ...options,
    } as LoadOptions);
    if (result.violationLog.length) {
      say(`violations: ${result.violationLog.slice(0, 2).join("; ")}`);
    }
    if (result.serverStderrLines > 0) {
      say(
        `server said ${result.serverStderrLines} lines, first: ${
          result.serverStderr.slice(0, 6).join("\n")
        }`,
      );
    }
    say(
      `cpu ${f(result.cpuUsPerFrame)} µs/frame, in-bridge p99 ${f(result.inBridge.up.p99, 3)}/${
        f(result.inBridge.down.p99, 3)
      } ms, e2e p99 ${f(result.up.p99)}/${
        f(result.down.p99)
      } ms, lost ${result.upLost}/${result.downLost}, ` +
        `harness ${f(result.harnessCpuPct, 0)} %, others ${f(result.othersCpuPct, 0)} %`,
    );
    return { key, label: v.label, n, result };
  } catch (error) {
    if (!(error instanceof SampleUnavailable)) throw error;
    say(`skipped: ${error.message}`);
    return { key, label: v.label, n, unavailable: error.message };
  }
}

/** What a capacity search found for one bridge. */
interface CapacityFound {
  key: string;
  steps: CapacityStep[];
  /** The largest N carried, and the smallest that failed. */
  carried: number;
  brokeAt?: number;
  why: string;
  /** No more steps for this bridge (it failed, or the harness could not load it). */
  done: boolean;
}

/**
 * The number of calls each bridge carries before in-bridge p99 passes 5 ms, a frame is lost
 * or the bridge falls behind (see {@linkcode capacityBreak}): N grows by half until a step
 * fails, then the gap is halved to within 10 % (or 10 calls). The bridges take turns at
 * each N (in alternating order), so that they meet the same machine: other jobs' load
 * moves a lot over minutes.
 */
async function searchCapacity(
  keys: string[],
  options: Partial<LoadOptions> & { start: number; max: number; harnessCores: number },
): Promise<CapacityFound[]> {
  const found: CapacityFound[] = keys.map((key) => ({
    key,
    steps: [],
    carried: 0,
    why: "",
    done: false,
  }));
  const run = async (f: CapacityFound, n: number): Promise<CapacityStep | undefined> => {
    const m = await measure(f.key, n, options);
    if (!m.result) {
      f.done = true;
      f.why = `did not run: ${m.unavailable}`;
      return undefined;
    }
    const step = { n, result: m.result, broke: capacityBreak(m.result) };
    f.steps.push(step);
    say(`capacity ${f.key} N=${n}: ${step.broke ? `breaks (${step.broke})` : "carried"}`);
    return step;
  };
  let round = 0;
  const turns = () => (round++ % 2 === 0 ? found : [...found].reverse());
  for (let n = options.start; n <= options.max; n = Math.ceil(n * 1.5 / 10) * 10) {
    if (found.every((f) => f.done)) break;
    for (const f of turns()) {
      if (f.done) continue;
      const s = await run(f, n);
      if (!s) continue;
      if (s.broke) {
        f.brokeAt = n;
        f.why = s.broke;
        f.done = true;
        continue;
      }
      f.carried = n;
      const limit = harnessLimit(s.result, options.harnessCores);
      if (limit) {
        f.why = `stopped at ${n} calls: ${limit}`;
        f.done = true;
      }
    }
  }
  for (const f of found) {
    if (!f.done) f.why = `carried the maximum tried (${f.carried})`;
  }
  // Narrow each gap, the bridges still taking turns.
  const open = (f: CapacityFound) =>
    f.brokeAt !== undefined && f.brokeAt - f.carried > Math.max(10, f.carried * 0.1);
  while (found.some(open)) {
    for (const f of turns()) {
      if (!open(f)) continue;
      const mid = Math.round((f.carried + f.brokeAt!) / 2 / 5) * 5;
      const s = await run(f, mid);
      if (!s) {
        f.brokeAt = undefined;
        continue;
      }
      if (s.broke) {
        f.brokeAt = mid;
        f.why = s.broke;
      } else f.carried = mid;
    }
  }
  return found;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args.filter((a) => a !== "--"),
    options: {
      calls: { type: "string" },
      seconds: { type: "string" },
      bridges: { type: "string" },
      soak: { type: "boolean", default: false },
      capacity: { type: "boolean", default: false },
      "capacity-start": { type: "string", default: "50" },
      "capacity-max": { type: "string", default: "2000" },
      "caller-procs": { type: "string" },
      "model-procs": { type: "string" },
      pin: { type: "boolean" },
      "server-cpus": { type: "string" },
      "harness-cpus": { type: "string" },
      "server-nice": { type: "string" },
      "harness-nice": { type: "string" },
      // The fake model this many ms away each way (netdelay.py; needs root).
      "model-delay-ms": { type: "string" },
      out: { type: "string", default: "BENCHMARKS_load.md" },
    },
  });
  const machine = machineInfo();
  const command = `deno task bench:load ${Deno.args.filter((a) => a !== "--").join(" ")}`.trim();
  const date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
  const pin = await pinning(values, values.capacity);
  const procs = {
    ...(values["caller-procs"] ? { callerProcs: Number(values["caller-procs"]) } : {}),
    ...(values["model-procs"] ? { modelProcs: Number(values["model-procs"]) } : {}),
  };
  const common: Partial<LoadOptions> = {
    ...procs,
    serverCpus: pin.serverCpus,
    harnessCpus: pin.harnessCpus,
    ...(values["server-nice"] ? { serverNice: Number(values["server-nice"]) } : {}),
    ...(values["harness-nice"] ? { harnessNice: Number(values["harness-nice"]) } : {}),
    ...(values.seconds ? { seconds: Number(values.seconds) } : {}),
    ...(values["model-delay-ms"] ? { modelDelayMs: Number(values["model-delay-ms"]) } : {}),
  };
  const lines: string[] = [
    "## Load",
    "",
    `Machine: ${machine.cpus} × ${machine.model}, ${
      f(machine.memGiB, 1)
    } GiB RAM, Deno ${Deno.version.deno}; ${pin.note}${
      values["server-nice"] ? `; bridge at nice ${values["server-nice"]}` : ""
    }${values["harness-nice"] ? `; harness at nice ${values["harness-nice"]}` : ""}${
      values["model-delay-ms"] ? `; fake model ${values["model-delay-ms"]} ms away each way` : ""
    }; harness processes: ${values["caller-procs"] ?? "auto"} caller / ${
      values["model-procs"] ?? "auto"
    } model. Other jobs share the machine: see ` +
    'the "other jobs" row.',
    `Command: \`${command}\` — ${date}.`,
    "",
  ];

  if (values.soak) {
    const calls = Number(values.calls ?? 100);
    const seconds = Number(values.seconds ?? 600);
    console.error(`soak: ours pcmu, ${calls} calls for ${seconds} s`);
    const r = await runLoad({
      bridge: "ours",
      format: "pcmu",
      ...common,
      calls,
      seconds,
      sampleEverySeconds: Math.max(5, Math.round(seconds / 20)),
      progress: say,
    });
    lines.push(...soakSection(r, calls, seconds));
  } else if (values.capacity) {
    const keys = (values.bridges ?? "ours-pcmu,sample").split(",");
    for (const key of keys) variant(key);
    const summary: string[] = [];
    const tables: string[] = [];
    const results = await searchCapacity(keys, {
      ...common,
      seconds: Number(values.seconds ?? 10),
      start: Number(values["capacity-start"]),
      max: Number(values["capacity-max"]),
      harnessCores: cpuCount(pin.harnessCpus),
    });
    for (const found of results) {
      const label = variant(found.key).label;
      const at = found.steps.find((s) => s.n === found.carried)?.result;
      summary.push(
        `| ${label} | ${found.carried} | ${found.brokeAt ?? "-"} | ${found.why} | ${
          at ? f(at.cpuPct, 0) : "-"
        } | ${at ? f(callsPerCoreByCpu(at), 0) : "-"} | ${at ? f(at.harnessCpuPct, 0) : "-"} |`,
      );
      tables.push(...capacityTable(label, found.steps), "");
      console.log(capacityTable(label, found.steps).join("\n"));
    }
    lines.push(
      "### Capacity: calls one core carries",
      "",
      "A step fails when the in-bridge p99 passes 5 ms either way, a frame is lost after " +
        "call setup, a call does not connect, or the bridge falls behind real time (its event " +
        "loop runs over 50 ms late, p99: the in-bridge probe starts only when a frame reaches " +
        "JavaScript, so it stays sub-millisecond even when the bridge runs seconds behind); " +
        "N grows by half until a step fails, then " +
        "the gap is halved to within 10 %; the bridges take turns at each N, so they meet " +
        "the same machine. The search stops early when the harness cannot " +
        "load the bridge fully (it falls behind real time, or uses over 90 % of its pinned " +
        'cores): the carried N is then a lower bound. "Calls per core by CPU" is N x 100 / ' +
        "server CPU %: what one core would carry if CPU per call stayed as measured.",
      "",
      "| bridge | carried | first failing N | why | server CPU % at the carried N | " +
        "calls per core by CPU there | harness CPU % there |",
      "|---|---|---|---|---|---|---|",
      ...summary,
      "",
      ...tables,
    );
    console.log(["", ...summary].join("\n"));
  } else {
    const ns = (values.calls ?? "50,100").split(",").map(Number);
    const keys = (values.bridges ?? "sample,ours-pcmu,ours-pcm16,baseline").split(",");
    for (const key of keys) variant(key);
    const byN = new Map<number, Measured[]>();
    for (const n of ns) {
      const measured: Measured[] = [];
      for (const key of keys) measured.push(await measure(key, n, common));
      byN.set(n, measured);
      console.log(["", ...comparisonTable(measured)].join("\n"));
    }
    const all = [...byN.values()].flat();
    lines.push(
      "Each call: 20 ms mu-law frames both ways in real time; our bridge and the Deno baseline " +
        "greet (1 s), the sample does not (its caller talks first); then turns of 1 s caller " +
        "speech and a 3 s streamed answer (200 ms lead, then one 20 ms delta per 20 ms); every " +
        "second answer is barged into 1.2 s in. The window is measured after ramp-up and 2 s " +
        "of warm-up. Ratios in brackets are to the public sample in the same run.",
      "",
    );
    for (const [n, measured] of byN) {
      lines.push(`### ${n} calls`, "", ...comparisonTable(measured), "");
    }
    lines.push("### Targets", "", ...targetsTable(byN), "");
    lines.push("### End to end (fake to fake, one wall clock)", "", ...endToEndTable(all), "");
    lines.push("### In the bridge (pcmu)", "", ...inBridgeTable(all), "");
    const notes = all.flatMap((m) => [
      ...(m.result?.notes ?? []),
      ...(m.result && m.result.violations > 0
        ? [
          `N=${m.n} ${m.label}: ${m.result.violations} violations, e.g. ${
            m.result.violationLog[0]
          }`,
        ]
        : []),
      ...(m.unavailable ? [`N=${m.n} ${m.label} did not run: ${m.unavailable}`] : []),
    ]);
    if (notes.length) lines.push("Notes:", "", ...notes.map((n) => `- ${n}`), "");
  }
  await Deno.writeTextFile(values.out, lines.join("\n") + "\n");
  console.error(`wrote ${values.out}`);
}

function soakSection(r: LoadResult, calls: number, seconds: number): string[] {
  return [
    `### Soak: ours (pcmu), ${calls} calls for ${seconds} s`,
    "",
    "| t (s) | RSS MiB | live heap MiB (after a full GC) | open fds | server CPU % | active calls |",
    "|---|---|---|---|---|---|",
    ...r.soak.map((s) =>
      `| ${s.atS} | ${f(s.rssMiB, 1)} | ${f(s.liveHeapMiB, 1)} | ${s.fds} | ${
        f(s.cpuPct, 0)
      } | ${s.activeCalls} |`
    ),
    "",
    `Before the calls: RSS ${f(r.rssIdleMiB, 1)} MiB, live heap ${f(r.liveHeapIdleMiB, 1)} MiB, ` +
    `${r.fdsIdle} fds. After every call hung up: live heap ${f(r.liveHeapAfterMiB, 1)} MiB, ` +
    `${r.fdsAfter} fds, ${r.activeCallsAfter} active calls. Frames lost up/down: ` +
    `${r.upLost}/${r.downLost} of ${r.framesUp}/${r.framesDown}. End-to-end p99 up/down ` +
    `${f(r.up.p99, 2)}/${f(r.down.p99, 2)} ms. Violations: ${r.violations}.`,
    "",
  ];
}

if (import.meta.main) await main();
