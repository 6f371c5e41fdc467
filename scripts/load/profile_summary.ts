/**
 * Summarises a V8 CPU profile (`.cpuprofile`, from `--cpu-prof`) of a bridge under load:
 * only the steady state (from `--skip` seconds after the first relayed frame to the last
 * one), self time by kind (WebSocket ops, event dispatch, GC, the load probe, each of our
 * source files) and the functions with the most self and inclusive time.
 *
 * ```sh
 * LOAD_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" deno task bench:load --calls=100 --bridges=ours-pcmu
 * deno run --allow-read scripts/load/profile_summary.ts /tmp/prof/CPU.*.cpuprofile
 * ```
 *
 * Percentages are of the main thread's busy time in the steady state (idle excluded).
 * Load-harness only.
 *
 * @module
 */
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A readable name: `function file:line`. */
function label(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  return `${functionName || "(anonymous)"} ${url.split("/").at(-1) ?? ""}:${lineNumber + 1}`;
}

/** The kind of work a function's self time is. */
function kind(n: ProfileNode): string {
  const { functionName, url } = n.callFrame;
  if (functionName === "(garbage collector)") return "garbage collection";
  if (functionName === "(program)") return "V8 (program)";
  if (/^op_ws_/.test(functionName)) return "WebSocket ops (send, next event, read buffer)";
  if (/^op_/.test(functionName)) return "other runtime ops";
  if (/0\d_event\.js|0\d_websocket\.js|00_infra\.js/.test(url)) {
    return "runtime JS: event dispatch, WebSocket glue, async ops";
  }
  if (url.startsWith("ext:") || url.startsWith("node:")) return "runtime JS: other";
  const file = /\/((?:src|scripts)\/.+)$/.exec(url)?.[1];
  if (file?.startsWith("scripts/load/")) return "load probe (harness code inside the bridge)";
  if (file) return file;
  if (/node_modules|npm/.test(url)) return "npm packages";
  return url ? "other" : "(native)";
}

function summarize(profile: Profile, skipMs: number, marker: RegExp, top: number): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Sample times, and the steady window: from skipMs after the first sample whose stack
  // holds the marker (a relayed frame) to the last such sample.
  const times: number[] = [];
  let t = 0;
  for (const d of profile.timeDeltas) times.push(t += d);
  const hasMarker = new Map<number, boolean>();
  const marked = (id: number): boolean => {
    let cached = hasMarker.get(id);
    if (cached !== undefined) return cached;
    const n = byId.get(id)!;
    const p = parent.get(id);
    cached = marker.test(label(n)) || (p !== undefined && marked(p));
    hasMarker.set(id, cached);
    return cached;
  };
  let first = -1;
  let last = -1;
  profile.samples.forEach((id, i) => {
    if (!marked(id)) return;
    if (first < 0) first = times[i];
    last = times[i];
  });
  if (first < 0) return ["no sample relays a frame: is this a bridge under load?"];
  const from = first + skipMs * 1000;
  const self = new Map<number, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    if (times[i] < from || times[i] > last) return;
    const dt = profile.timeDeltas[i];
    if (byId.get(id)!.callFrame.functionName === "(idle)") {
      idle += dt;
      return;
    }
    busy += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const pct = (v: number) => `${(100 * v / busy).toFixed(1)} %`;
  const byKind = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, dt] of self) {
    const n = byId.get(id)!;
    byKind.set(kind(n), (byKind.get(kind(n)) ?? 0) + dt);
    byFunction.set(label(n), (byFunction.get(label(n)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const l = label(byId.get(x)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  const lines = [
    `Steady state: ${((last - from) / 1e6).toFixed(1)} s, main thread busy ${
      (100 * busy / (busy + idle)).toFixed(0)
    } % of it.`,
    "",
    "| self time by kind | share |",
    "|---|---|",
    ...sorted(byKind).map(([k, v]) => `| ${k} | ${pct(v)} |`),
    "",
    "| function (self time) | share |",
    "|---|---|",
    ...sorted(byFunction).slice(0, top).map(([k, v]) => `| ${k} | ${pct(v)} |`),
    "",
    "| function (inclusive: itself and what it calls) | share |",
    "|---|---|",
    ...sorted(inclusive).filter(([k]) => !/^\(root\)|^\(anonymous\) :0/.test(k)).slice(0, top)
      .map(([k, v]) => `| ${k} | ${pct(v)} |`),
    "",
  ];
  return lines;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      skip: { type: "string", default: "5" },
      top: { type: "string", default: "25" },
      // A frame relayed by ours (`#onMedia`), the sample (`connection.on` handlers) or the baseline.
      marker: { type: "string", default: "#onMedia|appendAudio|onmessage" },
    },
  });
  for (const path of positionals) {
    const profile = JSON.parse(await Deno.readTextFile(path)) as Profile;
    console.log(`#### ${path}\n`);
    console.log(
      summarize(profile, Number(values.skip) * 1000, new RegExp(values.marker), Number(values.top))
        .join("\n"),
    );
  }
}

if (import.meta.main) await main();
