/**
 * `deno task bench:load`: the load sweep. For each N it runs the baseline bridge and ours
 * (`pcmu`, then `pcm16`) against the same lean fake model and the same callers, prints a
 * table and writes `BENCHMARKS_load.md`.
 *
 * ```sh
 * deno task bench:load                                # N = 10,50,100,200,400, 15 s each
 * deno task bench:load -- --calls=200 --seconds=30    # one N
 * deno task bench:load -- --soak                      # 100 calls for 10 minutes
 * deno task bench:load -- --soak --calls=100 --seconds=180
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type LoadOptions, type LoadResult, runLoad } from "./load_run.ts";
import { machineInfo, type Summary } from "./stats.ts";

interface Variant {
  label: string;
  options: Pick<LoadOptions, "bridge" | "format" | "ws" | "markIntervalMs" | "probe">;
}

const VARIANTS: Record<string, Variant> = {
  baseline: { label: "baseline (pcmu)", options: { bridge: "baseline", format: "pcmu" } },
  "ours-pcmu": { label: "ours pcmu", options: { bridge: "ours", format: "pcmu" } },
  "ours-pcm16": { label: "ours pcm16", options: { bridge: "ours", format: "pcm16" } },
  // Without the in-bridge probe, to see what it costs (its figures are then empty).
  "baseline-no-probe": {
    label: "baseline (pcmu), no probe",
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
  // An experiment, not the product: the model socket with Nagle off (see nodelay_websocket.ts).
  "ours-pcmu-nodelay": {
    label: "ours pcmu, TCP_NODELAY model socket (experiment)",
    options: { bridge: "ours", format: "pcmu", ws: "nodelay" },
  },
};

const f = (v: number, d = 1) => Number.isFinite(v) ? v.toFixed(d) : "-";
const lat = (s: Summary) => `${f(s.p50, 2)} / ${f(s.p99, 2)} / ${f(s.max, 1)}`;

/** One markdown table row per result. */
function row(label: string, r: LoadResult): string {
  return `| ${r.calls} | ${label} | ${r.callsConnected} | ${lat(r.up)} | ${lat(r.down)} | ${
    lat(r.turn)
  } | ${lat(r.bargeIn)} (${r.clearsReceived}/${r.bargeInsSent}) | ${r.upLost} / ${r.downLost} | ${
    f(r.cpuPct, 0)
  } | ${f(r.cpuPctPerCall, 2)} | ${f(r.rssPerCallKiB, 0)} | ${f(r.serverLag.p99, 1)} / ${
    f(r.serverLag.max, 1)
  } | ${f(r.harnessLag.p99, 1)} | ${f(r.harnessCpuPct, 0)} | ${r.violations} |`;
}

const HEADER = [
  "| N | bridge | up | caller→model ms p50/p99/max | model→caller ms p50/p99/max | " +
  "turn ms p50/p99/max | barge-in→clear ms p50/p99/max (clears/barge-ins) | lost up/down | " +
  "server CPU % | CPU %/call | RSS KiB/call | server loop lag p99/max ms | harness lag p99 ms | " +
  "harness CPU % | protocol violations |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
];

const latMs = (s: Summary) => `${f(s.p50, 3)} / ${f(s.p99, 3)} / ${f(s.max, 2)}`;

/** One row of the in-bridge table (see `bridge_probe.ts`). */
function inBridgeRow(label: string, r: LoadResult): string {
  const b = r.inBridge;
  return `| ${r.calls} | ${label} | ${latMs(b.up)} | ${latMs(b.down)} | ${latMs(b.bargeIn)} | ${
    b.up.count ?? 0
  } / ${b.down.count ?? 0} / ${b.bargeIn.count ?? 0} | ${lat(b.toBridgeUp)} | ${
    lat(b.toBridgeDown)
  } | ${f(r.serverLag.p99, 1)} |`;
}

const IN_BRIDGE_HEADER = [
  "| N | bridge | in bridge up: Twilio media in -> append out, ms p50/p99/max | " +
  "in bridge down: delta in -> media out | in bridge barge-in: speech_started in -> clear out | " +
  "samples up / down / barge-in | to bridge up: caller's send -> bridge JS, ms p50/p99/max | " +
  "to bridge down: model's send -> bridge JS | server loop lag p99 ms |",
  "|---|---|---|---|---|---|---|---|---|",
];

function ratios(n: number, base: LoadResult | undefined, ours: LoadResult | undefined): string {
  if (!base || !ours) return "";
  const r = (a: number, b: number) => (b > 0 ? f(a / b, 2) + "x" : "-");
  return `| ${n} | ${r(ours.cpuPctPerCall, base.cpuPctPerCall)} | ${
    r(ours.rssPerCallKiB, base.rssPerCallKiB)
  } | ${r(ours.up.p99, base.up.p99)} | ${r(ours.down.p99, base.down.p99)} |`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args.filter((a) => a !== "--"),
    options: {
      calls: { type: "string" },
      seconds: { type: "string" },
      bridges: { type: "string" },
      soak: { type: "boolean", default: false },
      out: { type: "string", default: "BENCHMARKS_load.md" },
    },
  });
  const machine = machineInfo();
  const command = `deno task bench:load ${Deno.args.filter((a) => a !== "--").join(" ")}`.trim();
  const date = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
  const lines: string[] = [
    "## Load",
    "",
    `Machine: ${machine.cpus} × ${machine.model}, ${
      f(machine.memGiB, 1)
    } GiB RAM, Deno ${Deno.version.deno}. Harness (callers + fake model) and bridge share these cores.`,
    `Command: \`${command}\` — ${date}.`,
    "",
  ];
  const say = (s: string) => console.error(`  ${s}`);

  if (values.soak) {
    const calls = Number(values.calls ?? 100);
    const seconds = Number(values.seconds ?? 600);
    console.error(`soak: ours pcmu, ${calls} calls for ${seconds} s`);
    const r = await runLoad({
      bridge: "ours",
      format: "pcmu",
      calls,
      seconds,
      sampleEverySeconds: Math.max(5, Math.round(seconds / 20)),
      progress: say,
    });
    lines.push(
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
      `Before the calls: RSS ${f(r.rssIdleMiB, 1)} MiB, live heap ${
        f(r.liveHeapIdleMiB, 1)
      } MiB, ` +
        `${r.fdsIdle} fds. After every call hung up: live heap ${f(r.liveHeapAfterMiB, 1)} MiB, ` +
        `${r.fdsAfter} fds, ${r.activeCallsAfter} active calls. Frames lost up/down: ` +
        `${r.upLost}/${r.downLost} of ${r.framesUp}/${r.framesDown}. Latency p99 up/down ` +
        `${f(r.up.p99, 2)}/${f(r.down.p99, 2)} ms. Violations: ${r.violations}.`,
      "",
    );
  } else {
    const ns = (values.calls ?? "10,50,100,200,400").split(",").map(Number);
    const variants = (values.bridges ?? "baseline,ours-pcmu,ours-pcm16").split(",");
    const seconds = Number(values.seconds ?? 15);
    const results: { n: number; v: string; r: LoadResult }[] = [];
    console.log(HEADER.join("\n"));
    for (const n of ns) {
      for (const v of variants) {
        const variant = VARIANTS[v];
        if (!variant) throw new Error(`unknown bridge ${v}: ${Object.keys(VARIANTS).join(", ")}`);
        console.error(`N=${n} ${variant.label}`);
        const r = await runLoad({ ...variant.options, calls: n, seconds, progress: say });
        results.push({ n, v, r });
        console.log(row(variant.label, r));
        say(`in bridge: ${inBridgeRow(variant.label, r)}`);
        if (r.violationLog.length) say(`violations: ${r.violationLog.slice(0, 3).join("; ")}`);
        if (r.serverStderrLines > 0) {
          say(
            `server said ${r.serverStderrLines} lines, first: ${
              r.serverStderr.slice(0, 3).join(" | ")
            }`,
          );
        }
      }
    }
    lines.push(
      `Each call: 20 ms mu-law frames both ways in real time; greeting 1 s, then turns of ` +
        `1 s caller speech + 3 s streamed answer (200 ms lead, then one 20 ms delta per 20 ms); ` +
        `every second answer is barged into 1.2 s in. ${seconds} s measured per run after ` +
        `ramp-up and 2 s warm-up. End to end, "added latency" is a fake's send (timed when ` +
        `each frame is sent) -> arrival at the other fake (one clock), so it includes loopback ` +
        `TCP, Nagle and both processes' event-loop delay (harness lag column). pcm16 frames are matched by order (transcoded bytes carry no ` +
        `stamp). Barge-in is the model's speech_started send -> clear at the caller ` +
        `(loopback both ways included). Lost frames are counted after call setup (the ` +
        `baseline, like the sample, drops audio until its model socket is open).`,
      "",
      ...HEADER,
      ...results.map(({ v, r }) => row(VARIANTS[v].label, r)),
      "",
      "In-bridge added latency, as issue 9 defines it (receive at one side -> send at the " +
        "other), measured inside the bridge process by `scripts/load/bridge_probe.ts`: from the " +
        "moment the frame's `message` event reaches JavaScript to just after the bridge's " +
        "`send` returns. The time before that (the fake's send, loopback TCP, Nagle on a " +
        'client socket, the bridge\'s event-loop queue) is the "to bridge" columns: the ' +
        "fakes write their wall-clock send time into each frame's stamp and the probe " +
        "subtracts it from its own wall clock on arrival. pcm16 frames carry no stamp " +
        "through the transcoder, so only pcmu is measured.",
      "",
      ...IN_BRIDGE_HEADER,
      ...results.filter(({ r }) => r.format === "pcmu").map(({ v, r }) =>
        inBridgeRow(VARIANTS[v].label, r)
      ),
      "",
      "Ours vs baseline (both pcmu):",
      "",
      "| N | CPU/call | RSS/call | up p99 | down p99 |",
      "|---|---|---|---|---|",
      ...ns.map((n) =>
        ratios(
          n,
          results.find((x) => x.n === n && x.v === "baseline")?.r,
          results.find((x) => x.n === n && x.v === "ours-pcmu")?.r,
        )
      ).filter(Boolean),
      "",
    );
    const notes = results.filter(({ r }) => r.violations > 0).map(({ n, v, r }) =>
      `- N=${n} ${VARIANTS[v].label}: ${r.violations} violations, e.g. ${r.violationLog[0]}`
    );
    if (notes.length) lines.push("Protocol violations seen by the fakes:", "", ...notes, "");
  }
  await Deno.writeTextFile(values.out, lines.join("\n") + "\n");
  console.error(`wrote ${values.out}`);
}

if (import.meta.main) await main();
