/**
 * What an idle bridge process holds: starts the bridge (`server_main.ts`, ours by default)
 * a few times, waits until it is ready and quiet, and reports the median RSS by kind
 * (/proc/<pid>/status, smaps_rollup, the largest mappings); then starts it once more with
 * the V8 inspector on and reports every script V8 compiled so far grouped by package
 * (which modules load at start), and a heap snapshot after a full GC summed by kind and by
 * constructor.
 *
 * ```sh
 * deno run -A scripts/load/idle_profile.ts                      # ours, idle
 * deno run -A scripts/load/idle_profile.ts --bridge=baseline
 * deno run -A scripts/load/idle_profile.ts --snapshot=/tmp/ours.heapsnapshot --runs=5
 * deno run -A scripts/load/idle_profile.ts --scripts=/tmp/ours.scripts   # every script, by URL
 * deno run -A scripts/load/idle_profile.ts --service-flags=off   # ours on Deno's defaults
 * ```
 *
 * Ours runs with the service's runtime flags (`SERVICE_FLAGS`, those of `deno task start`);
 * `LOAD_SERVER_FLAGS` adds to them. The RSS comes from processes without the inspector (a
 * listening inspector costs ~15 MiB, a session and a snapshot more). Load-harness only.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startFakeModel } from "./fake_model.ts";
import { LOAD_API_KEY, Ticker, Violations } from "./probe.ts";
import { SERVICE_FLAGS } from "../compile.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
class Inspector {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, (result: unknown) => void>();
  readonly #listeners = new Map<string, (params: Record<string, unknown>) => void>();
  #id = 0;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.id !== undefined) {
        this.#pending.get(msg.id)?.(msg.error ? Promise.reject(msg.error) : msg.result);
        this.#pending.delete(msg.id);
      } else this.#listeners.get(msg.method)?.(msg.params);
    };
  }

  static async connect(port: number): Promise<Inspector> {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Inspector(ws);
  }

  on(method: string, listener: (params: Record<string, unknown>) => void): void {
    this.#listeners.set(method, listener);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#id;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve) => this.#pending.set(id, resolve as (r: unknown) => void));
  }

  close(): void {
    this.#ws.close();
  }
}

/** Where a script came from: an npm package, a Deno/Node built-in, or our own folder. */
function origin(url: string): string {
  const npm = /node_modules\/(?:\.deno\/)?((?:@[^/]+[+/])?[^/@]+)/.exec(url) ??
    /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm) return `npm:${npm[1].replace("+", "/")}`;
  if (url.startsWith("ext:") || url.startsWith("node:")) return "runtime built-ins (ext:, node:)";
  const local = /\/(src|scripts)\/([^/]+)\//.exec(url);
  if (local) return `${local[1]}/${local[2]}/`;
  if (/\/(src|scripts)\/[^/]+$/.test(url)) return "src/ (top level)";
  return url ? url.replace(/^.*\//, "…/") : "(anonymous)";
}

interface HeapSummary {
  total: number;
  byType: Map<string, number>;
  byName: Map<string, { size: number; count: number }>;
  /** Self size of compiled code (SharedFunctionInfo, bytecode, scope info) by script origin. */
  codeByOrigin: Map<string, number>;
}

/**
 * Sums a heap snapshot's nodes by type and by constructor name, and attributes compiled
 * code (each SharedFunctionInfo and what it owns: bytecode, scope info, feedback metadata)
 * to the script it belongs to.
 */
function summarize(snapshot: {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[]];
      edge_fields: string[];
      edge_types: [string[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}): HeapSummary {
  const { meta } = snapshot.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const typeAt = meta.node_fields.indexOf("type");
  const nameAt = meta.node_fields.indexOf("name");
  const sizeAt = meta.node_fields.indexOf("self_size");
  const edgeCountAt = meta.node_fields.indexOf("edge_count");
  const edgeTypeAt = meta.edge_fields.indexOf("type");
  const edgeNameAt = meta.edge_fields.indexOf("name_or_index");
  const edgeToAt = meta.edge_fields.indexOf("to_node");
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snapshot;
  const byType = new Map<string, number>();
  const byName = new Map<string, { size: number; count: number }>();
  let total = 0;
  const count = nodes.length / nf;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += nodes[i * nf + edgeCountAt] * ef;
  }
  firstEdge[count] = edges.length;
  const name = (i: number) => strings[nodes[i * nf + nameAt]];
  for (let i = 0; i < count; i++) {
    const type = types[nodes[i * nf + typeAt]];
    const size = nodes[i * nf + sizeAt];
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    const key = `${type}: ${name(i).slice(0, 80)}`;
    const entry = byName.get(key) ?? { size: 0, count: 0 };
    entry.size += size;
    entry.count++;
    byName.set(key, entry);
  }
  // Code by script: a SharedFunctionInfo's "script" edge names its script; its own size and
  // that of the code objects it points to are charged there.
  const codeByOrigin = new Map<string, number>();
  const scriptName = new Map<number, string>();
  const edge = (i: number, want: string) => {
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += ef) {
      const t = edgeTypes[edges[e + edgeTypeAt]];
      const edgeName = t === "element" || t === "hidden"
        ? String(edges[e + edgeNameAt])
        : strings[edges[e + edgeNameAt]];
      if (edgeName === want) return edges[e + edgeToAt] / nf;
    }
    return -1;
  };
  for (let i = 0; i < count; i++) {
    if (types[nodes[i * nf + typeAt]] !== "code") continue;
    const script = edge(i, "script");
    if (script < 0) continue;
    let url = scriptName.get(script);
    if (url === undefined) {
      const source = edge(script, "name");
      url = source >= 0 ? name(source) : "";
      scriptName.set(script, url);
    }
    let size = nodes[i * nf + sizeAt];
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += ef) {
      const to = edges[e + edgeToAt] / nf;
      const t = types[nodes[to * nf + typeAt]];
      if (t === "code" && edge(to, "script") < 0) size += nodes[to * nf + sizeAt];
    }
    const o = origin(url);
    codeByOrigin.set(o, (codeByOrigin.get(o) ?? 0) + size);
  }
  return { total, byType, byName, codeByOrigin };
}

/** A bridge process started by {@linkcode spawnBridge}, ready and idle. */
interface IdleBridge {
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `server_main.ts` with `deno run` plus `flags` (the V8 inspector, V8 flags) and
 * waits until it says it is ready.
 */
async function spawnBridge(
  values: { bridge: string; format: string },
  modelUrl: string,
  db: string,
  flags: string[],
): Promise<IdleBridge> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-sys",
      ...flags,
      new URL("./server_main.ts", import.meta.url).pathname,
      `--bridge=${values.bridge}`,
      `--format=${values.format}`,
      `--model-url=${modelUrl}`,
      `--db=${db}`,
      "--probe=off",
    ],
    // Held open: server_main.ts exits when its stdin closes.
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes('{"ready"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the bridge did not start");
    out += value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return {
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdin.close().catch(() => {});
      await drain;
    },
  };
}

const field = (text: string, key: string) =>
  Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      bridge: { type: "string", default: "ours" },
      format: { type: "string", default: "pcmu" },
      snapshot: { type: "string" },
      // Writes every script compiled at start (source length, URL), one a line.
      scripts: { type: "string" },
      // Fresh processes whose idle RSS is read (no inspector attached); the median is reported.
      runs: { type: "string", default: "3" },
      // `off` runs ours on Deno's defaults instead of the service's runtime flags.
      "service-flags": { type: "string", default: "on" },
    },
  });
  // Ours runs with the service's own runtime flags (those of `deno task start`), as in the load
  // harness; LOAD_SERVER_FLAGS adds to them (a later V8 flag wins).
  const flags = [
    ...(values.bridge === "ours" && values["service-flags"] !== "off" ? SERVICE_FLAGS : []),
    ...(Deno.env.get("LOAD_SERVER_FLAGS")?.split(" ").filter(Boolean) ?? []),
  ];
  const dir = await Deno.makeTempDir({ prefix: "voice-agent-idle-" });
  const model = await startFakeModel({
    violations: new Violations(),
    ticker: new Ticker(),
    apiKey: LOAD_API_KEY,
  });
  // The RSS first, from processes without the inspector (a listening inspector alone costs
  // ~15 MiB): each started fresh, read after 2 s idle.
  const rss: { status: string; rollup: string; smaps: string }[] = [];
  for (let i = 0; i < Math.max(1, Number(values.runs)); i++) {
    const bridge = await spawnBridge(values, model.url, `${dir}/agent-${i}.db`, flags);
    await sleep(2000);
    rss.push({
      status: await Deno.readTextFile(`/proc/${bridge.pid}/status`),
      rollup: await Deno.readTextFile(`/proc/${bridge.pid}/smaps_rollup`),
      smaps: await Deno.readTextFile(`/proc/${bridge.pid}/smaps`),
    });
    await bridge.stop();
  }
  const vmRss = (r: { status: string }) => field(r.status, "VmRSS");
  const sorted = [...rss].sort((a, b) => vmRss(a) - vmRss(b));
  const { status, rollup, smaps } = sorted[Math.floor((sorted.length - 1) / 2)];
  const lines: string[] = [
    `### Idle ${values.bridge} bridge (${values.format})`,
    "",
    `Deno flags: ${flags.join(" ") || "(none)"}. RSS of ${rss.length} fresh processes: ` +
    `${rss.map((r) => mib(vmRss(r))).join(", ")} MiB.`,
    "",
    `Median RSS ${mib(field(status, "VmRSS"))} MiB: anonymous ${mib(field(status, "RssAnon"))} ` +
    `MiB, file-backed ${mib(field(status, "RssFile"))} MiB (the deno executable's pages and ` +
    `mapped files), shared memory ${mib(field(status, "RssShmem"))} MiB; private dirty ` +
    `${mib(field(rollup, "Private_Dirty"))} MiB.`,
    "",
  ];
  // The largest mappings (from smaps: which part of the address space the RSS is in).
  const mappings: { what: string; rss: number }[] = [];
  let current = "";
  for (const line of smaps.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) current = head[1] || "[anonymous]";
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) mappings.push({ what: current, rss: Number(rss[1]) * 1024 });
  }
  const byMapping = new Map<string, number>();
  for (const m of mappings) {
    const key = m.what.replace(/^.*\/(deno)$/, "deno executable");
    byMapping.set(key, (byMapping.get(key) ?? 0) + m.rss);
  }
  lines.push("| mapping | RSS MiB |", "|---|---|");
  for (const [what, rss] of [...byMapping].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
    lines.push(`| ${what} | ${mib(rss)} |`);
  }
  lines.push("");

  // Then what is loaded and held, from one more process with the inspector on.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const inspectPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const bridge = await spawnBridge(values, model.url, `${dir}/agent-inspected.db`, [
    ...flags,
    `--inspect=127.0.0.1:${inspectPort}`,
  ]);
  await sleep(2000);
  lines.push(
    `With the inspector listening (before a session): RSS ${
      mib(field(await Deno.readTextFile(`/proc/${bridge.pid}/status`), "VmRSS"))
    } MiB.`,
    "",
  );
  const inspector = await Inspector.connect(inspectPort);
  const scripts = new Map<string, { count: number; bytes: number }>();
  const scriptList: string[] = [];
  inspector.on("Debugger.scriptParsed", (p) => {
    scriptList.push(`${p.length}\t${p.url}`);
    const o = origin(String(p.url ?? ""));
    const entry = scripts.get(o) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += Number(p.length ?? 0);
    scripts.set(o, entry);
  });
  await inspector.send("Debugger.enable");
  await sleep(500);
  await inspector.send("Debugger.disable");
  const usage = await inspector.send<{ usedSize: number; totalSize: number }>(
    "Runtime.getHeapUsage",
  );
  lines.push(
    `V8 heap: ${mib(usage.usedSize)} MiB used of ${mib(usage.totalSize)} MiB.`,
    "",
    "Scripts compiled at start, by origin:",
    "",
    "| origin | scripts | source KiB |",
    "|---|---|---|",
  );
  for (const [o, s] of [...scripts].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 25)) {
    lines.push(`| ${o} | ${s.count} | ${(s.bytes / 1024).toFixed(0)} |`);
  }
  lines.push("");

  const chunks: string[] = [];
  inspector.on("HeapProfiler.addHeapSnapshotChunk", (p) => chunks.push(String(p.chunk)));
  await inspector.send("HeapProfiler.enable");
  await inspector.send("HeapProfiler.collectGarbage");
  await inspector.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  inspector.close();
  const text = chunks.join("");
  if (values.snapshot) await Deno.writeTextFile(values.snapshot, text);
  if (values.scripts) await Deno.writeTextFile(values.scripts, scriptList.join("\n") + "\n");
  const heap = summarize(JSON.parse(text));
  lines.push(
    `Heap snapshot after a full GC: ${mib(heap.total)} MiB of objects.`,
    "",
    "| kind | MiB |",
    "|---|---|",
    ...[...heap.byType].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([t, s]) =>
      `| ${t} | ${mib(s)} |`
    ),
    "",
    "Compiled code (functions, bytecode, scope info) by origin:",
    "",
    "| origin | KiB |",
    "|---|---|",
    ...[...heap.codeByOrigin].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([o, s]) =>
      `| ${o} | ${(s / 1024).toFixed(0)} |`
    ),
    "",
    "Largest groups of objects (kind: name):",
    "",
    "| kind: name | count | KiB |",
    "|---|---|---|",
    ...[...heap.byName].sort((a, b) => b[1].size - a[1].size).slice(0, 20).map(([k, v]) =>
      `| ${k.replaceAll("|", "\\|")} | ${v.count} | ${(v.size / 1024).toFixed(0)} |`
    ),
    "",
  );
  console.log(lines.join("\n"));
  await bridge.stop();
  await model.close();
  await Deno.remove(dir, { recursive: true });
}

if (import.meta.main) await main();
