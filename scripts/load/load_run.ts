/**
 * One load run: starts the fake model's processes, the bridge under test (in its own
 * process: ours or the Deno baseline via `server_main.ts`, or the public Twilio sample
 * under Node), the callers' processes, dials N simulated calls, measures for a window,
 * then joins what every process recorded (see `timeline.ts`), checks every frame arrived
 * and tears everything down. Used by `scripts/load/run.ts` (`deno task bench:load`) and by
 * the small load test.
 *
 * @module
 */
import { RpcChild } from "./rpc.ts";
import { type FarNetwork, startFarNetwork } from "./far_network.ts";
import { FRAME_MS, LOAD_API_KEY, LOAD_AUTH_TOKEN, LOAD_PUBLIC_URL, wallClockMs } from "./probe.ts";
import type { Scenario } from "./fake_model.ts";
import { SERVICE_FLAGS } from "../compile.ts";
import type { WorkerReport } from "./harness_worker.ts";
import { NODE_PROBE_URL, prepareSample } from "./sample_bridge.ts";
import {
  coreBusyPct,
  coreTimes,
  cpuSeconds,
  Histogram,
  loadAverage,
  openFds,
  rssBytes,
  type Summary,
} from "./stats.ts";
import {
  type CallRecord,
  decodeCall,
  decodeSession,
  joinRecords,
  type SessionRecord,
} from "./timeline.ts";

/** What the in-bridge probe measured in the bridge process (ms). */
export interface InBridge {
  up: Summary;
  down: Summary;
  bargeIn: Summary;
  /** Fake's send -> the frame reaches the bridge's JavaScript. */
  toBridgeUp: Summary;
  toBridgeDown: Summary;
}

/**
 * Which bridge runs in the server process: ours, the minimal Deno bridge written the
 * sample's way (`baseline_bridge.ts`), or the public Twilio sample itself (Node).
 */
export type BridgeKind = "baseline" | "ours" | "sample";

/** Options of {@linkcode runLoad}. */
export interface LoadOptions {
  bridge: BridgeKind;
  format: "pcmu" | "pcm16";
  calls: number;
  /** Measurement window, s. */
  seconds: number;
  /** Time after every call heard audio before measuring, s. Default 2. */
  warmupSeconds?: number;
  /** Calls dialled at once while ramping up (over all caller processes). Default 20. */
  dialConcurrency?: number;
  scenario?: Partial<Scenario>;
  /**
   * Client of our bridge's model socket: the product's configured default when unset,
   * npm `ws`, Deno's `builtin` WebSocket, or the hand-written `nodelay` experiment.
   */
  ws?: "ws" | "builtin" | "nodelay";
  /**
   * Put the fake model this many ms away, one way, ACKs included (`netdelay.py`; needs
   * root). Unset: loopback.
   */
  modelDelayMs?: number;
  /** Agent audio between Twilio marks in our bridge (ms); default the product's (100). */
  markIntervalMs?: number;
  /** Install the in-bridge probe in the server (default true; false measures its cost). */
  probe?: boolean;
  /** Our bridge from another checkout's `src/` (a path), to compare commits in one run. */
  src?: string;
  /**
   * Run our bridge with the service's runtime flags (`SERVICE_FLAGS`, as `deno task start`
   * and the compiled binary do); default true, false runs it on Deno's and V8's defaults.
   */
  serviceFlags?: boolean;
  /** Sample RSS / descriptors / CPU every this many s during the window (soak). */
  sampleEverySeconds?: number;
  /** Processes for the simulated callers and for the fake model (default: one per 100 calls, 1-4). */
  callerProcs?: number;
  modelProcs?: number;
  /** Pin the bridge and the harness processes to these CPUs (`taskset -c` lists), e.g. "1" and "0". */
  serverCpus?: string;
  harnessCpus?: string;
  /**
   * Run the bridge at this `nice` level (e.g. -10; below 0 needs root), so other jobs on a
   * shared machine take less of its core. Off by default.
   */
  serverNice?: number;
  /** The same for the harness processes. */
  harnessNice?: number;
  /** Progress lines go here (default: nowhere). */
  progress?: (line: string) => void;
}

/** One point of a soak timeline. */
export interface SoakSample {
  atS: number;
  rssMiB: number;
  fds: number;
  cpuPct: number;
  activeCalls: number;
  /** V8 heap in use right after a full garbage collection (live data). */
  liveHeapMiB: number;
}

/** One harness process over the window. */
export interface HarnessProcess {
  name: string;
  /** % of one core. */
  cpuPct: number;
  /** Event-loop lag (ms). */
  lag: Summary;
}

/** Everything one run measured. */
export interface LoadResult {
  bridge: BridgeKind;
  format: "pcmu" | "pcm16";
  calls: number;
  callsConnected: number;
  windowS: number;
  /** End to end (one fake's send -> the other fake's arrival), caller -> model and back (ms). */
  up: Summary;
  down: Summary;
  /** Model's first audio delta of a response -> its media at the caller (ms). */
  turn: Summary;
  /** Model sent speech_started (barge-in) -> caller got `clear` (ms, loopback both ways included). */
  bargeIn: Summary;
  /**
   * Measured inside the bridge process (`bridge_probe.ts`, `node_probe.mjs`): frame arrives
   * on one socket -> leaves on the other, and speech_started arrives -> clear leaves (ms;
   * `pcmu` only).
   */
  inBridge: InBridge;
  bargeInsSent: number;
  clearsReceived: number;
  /** Caller frames lost after the first one of the call reached the model (must be 0). */
  upLost: number;
  /** Caller frames lost counting call setup too. */
  upLostWithSetup: number;
  /** Model frames lost on the way to the caller, after its first one arrived (must be 0). */
  downLost: number;
  /** Model frames lost counting call setup too. */
  downLostWithSetup: number;
  framesUp: number;
  framesDown: number;
  /** Frames sent inside the window that arrived: the frames the bridge relayed then. */
  upRelayed: number;
  downRelayed: number;
  /**
   * Caller frames sent in the window per frame due in real time (calls x window / 20 ms):
   * below ~0.95 the harness could not keep up, so the bridge was not fully loaded.
   */
  harnessPace: number;
  misordered: number;
  /**
   * Messages the fakes received from the bridge during the window, by kind
   * (`twilio:media`, `twilio:mark`, `model:input_audio_buffer.append`, ...).
   */
  messagesReceived: Record<string, number>;
  violations: number;
  violationLog: string[];
  /** Calls no model session could be tied to (should be 0). */
  unboundCalls: number;
  /** Server CPU over the window: % of one core, total and per call. */
  cpuPct: number;
  cpuPctPerCall: number;
  /** Server CPU per relayed frame (µs; frames both ways) and per call-second (ms). */
  cpuUsPerFrame: number;
  cpuMsPerCallSecond: number;
  /** Every harness process (callers, fake model, coordinator) over the window, % of one core. */
  harnessCpuPct: number;
  harnessProcs: HarnessProcess[];
  /** Busy % of each core over the window (everyone's), and what neither the server nor the harness used. */
  coresBusyPct: number[];
  othersCpuPct: number;
  /** /proc/loadavg at the end of the window. */
  loadAvg: string;
  /** Server RSS: idle before the calls, loaded at the end of the window, per call (KiB). */
  rssIdleMiB: number;
  rssLoadedMiB: number;
  rssPerCallKiB: number;
  /**
   * Of that growth: V8's committed heap, the heap in use (garbage included: no GC first) and
   * memory outside the heap V8 knows of (array buffers, WebAssembly memories), per call (KiB).
   */
  heapTotalPerCallKiB: number;
  heapUsedPerCallKiB: number;
  externalPerCallKiB: number;
  /** Open descriptors: idle, loaded, after every call hung up. */
  fdsIdle: number;
  fdsLoaded: number;
  fdsAfter: number;
  activeCallsAfter: number;
  /** V8 heap in use after a full collection: before the calls and after every hang-up. */
  liveHeapIdleMiB: number;
  liveHeapAfterMiB: number;
  /** Event-loop lag of the server and the worst harness process over the window (ms). */
  serverLag: Summary;
  harnessLag: Summary;
  /** Warnings/errors the server printed (first lines kept). */
  serverStderrLines: number;
  serverStderr: string[];
  soak: SoakSample[];
  /** Anything worth a footnote (e.g. the sample's packages were installed). */
  notes: string[];
  /** Seconds the traffic took to stop after the callers and the model went quiet (backlog). */
  drainS: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Session indices of model process `i` start at `i * SESSION_STRIDE`. */
const SESSION_STRIDE = 100_000;

/** Harness processes per role for `calls` calls: one per 100 calls, 1 to 4. */
export function defaultProcs(calls: number): number {
  return Math.min(4, Math.max(1, Math.ceil(calls / 100)));
}

interface ServerProcess {
  pid: number;
  port: number;
  statsPort: number;
  /** Where the callers post the voice webhook. */
  webhookPath: string;
  stderrLines: () => number;
  stderr: string[];
  stop(): Promise<void>;
}

/** Splits a stream into lines, calling `each` per line; resolves at its end. */
async function lines(
  stream: ReadableStream<Uint8Array>,
  each: (line: string) => void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) each(line);
  }
  if (rest) each(rest);
}

/**
 * Spawns a bridge process (pinned with `taskset` when `cpus` is given) and waits until
 * `ready` has seen the stdout lines that give its ports.
 */
async function spawnBridge(
  command: string,
  args: string[],
  options: {
    cwd?: string;
    env?: Record<string, string>;
    cpus?: string;
    nice?: number;
    webhookPath: string;
  },
  ready: (line: string, found: { port?: number; statsPort?: number }) => void,
): Promise<ServerProcess> {
  let [cmd, argv] = options.cpus
    ? ["taskset", ["-c", options.cpus, command, ...args]]
    : [command, args];
  if (options.nice !== undefined) {
    [cmd, argv] = ["nice", ["-n", String(options.nice), cmd, ...argv]];
  }
  const child = new Deno.Command(cmd, {
    args: argv,
    cwd: options.cwd,
    env: options.env,
    // Kept open and never written: the bridge exits when it closes, so a coordinator that
    // dies (Ctrl-C, kill) leaves no bridge behind.
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const stderr: string[] = [];
  let stderrLines = 0;
  const stderrDone = lines(child.stderr, (line) => {
    if (!line.trim()) return;
    stderrLines++;
    if (stderr.length < 20) stderr.push(line.slice(0, 300));
  });
  const found: { port?: number; statsPort?: number } = {};
  let signal: () => void = () => {};
  const isReady = new Promise<void>((r) => (signal = r));
  // Keeps draining stdout after the ready lines so the child never blocks on a full pipe.
  const stdoutDone = lines(child.stdout, (line) => {
    if (found.port !== undefined && found.statsPort !== undefined) return;
    ready(line, found);
    if (found.port !== undefined && found.statsPort !== undefined) signal();
  }).finally(() => signal());
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([isReady, new Promise((r) => (timer = setTimeout(r, 60_000)))]);
  clearTimeout(timer);
  const kill = (s: Deno.Signal) => {
    try {
      child.kill(s);
    } catch { /* already exited */ }
  };
  if (found.port === undefined || found.statsPort === undefined) {
    kill("SIGKILL");
    await child.status;
    await stdin.close().catch(() => {});
    await Promise.allSettled([stderrDone, stdoutDone]);
    throw new Error(`bridge did not start (${command}): ${stderr.join("\n")}`);
  }
  return {
    pid: child.pid,
    port: found.port,
    statsPort: found.statsPort,
    webhookPath: options.webhookPath,
    stderrLines: () => stderrLines,
    stderr,
    async stop() {
      kill("SIGTERM");
      const t = setTimeout(() => kill("SIGKILL"), 10_000);
      await child.status;
      await stdin.close().catch(() => {});
      clearTimeout(t);
      await Promise.allSettled([stderrDone, stdoutDone]);
    },
  };
}

/** Ours or the Deno baseline, in `server_main.ts`. */
function spawnDenoBridge(
  options: LoadOptions,
  modelUrl: string,
  db: string,
): Promise<ServerProcess> {
  const script = new URL("./server_main.ts", import.meta.url).pathname;
  return spawnBridge(
    Deno.execPath(),
    [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-sys",
      // Lets the stats endpoint collect garbage before reading the live heap (soak).
      "--v8-flags=--expose-gc",
      // Ours as it is deployed (the baseline stays on V8's defaults, like the sample on Node's).
      ...(options.bridge === "ours" && options.serviceFlags !== false ? SERVICE_FLAGS : []),
      // LOAD_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server.
      ...(Deno.env.get("LOAD_SERVER_FLAGS")?.split(" ").filter(Boolean) ?? []),
      script,
      `--bridge=${options.bridge}`,
      `--format=${options.format}`,
      `--model-url=${modelUrl}`,
      `--db=${db}`,
      ...(options.ws === undefined ? [] : [`--ws=${options.ws}`]),
      ...(options.src ? [`--src=${options.src}`] : []),
      ...(options.markIntervalMs === undefined
        ? []
        : [`--mark-interval-ms=${options.markIntervalMs}`]),
      `--probe=${options.probe ?? true ? "on" : "off"}`,
    ],
    { cpus: options.serverCpus, nice: options.serverNice, webhookPath: "/twilio/voice" },
    (line, found) => {
      if (!line.startsWith('{"ready"')) return;
      const r = JSON.parse(line) as { port: number; statsPort: number };
      found.port = r.port;
      found.statsPort = r.statsPort;
    },
  );
}

/** A free loopback port (the sample takes its port from `PORT`). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The public Twilio sample under Node, with `node_probe.mjs` preloaded. */
async function spawnSample(
  options: LoadOptions,
  modelUrl: string,
  say: (line: string) => void,
  notes: string[],
): Promise<ServerProcess> {
  const sample = await prepareSample(say);
  if (sample.installed) notes.push(`the sample's npm packages were installed into ${sample.dir}`);
  const port = freePort();
  return await spawnBridge(
    "node",
    [
      // Lets the stats endpoint collect garbage before reading the live heap.
      "--expose-gc",
      "--import",
      NODE_PROBE_URL,
      // LOAD_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the sample.
      ...(Deno.env.get("LOAD_NODE_FLAGS")?.split(" ").filter(Boolean) ?? []),
      "index.js",
    ],
    {
      cwd: sample.dir,
      env: {
        PORT: String(port),
        OPENAI_API_KEY: LOAD_API_KEY,
        OPENAI_REALTIME_URL: modelUrl,
        LOAD_PROBE: options.probe ?? true ? "on" : "off",
      },
      cpus: options.serverCpus,
      nice: options.serverNice,
      webhookPath: "/incoming-call",
    },
    (line, found) => {
      if (line.startsWith('{"loadProbe"')) {
        found.statsPort = (JSON.parse(line) as { loadProbe: { statsPort: number } }).loadProbe
          .statsPort;
      } else if (line.includes("Server is listening on port")) found.port = port;
    },
  );
}

interface ServerStats {
  lag: Summary;
  bridge: InBridge;
  activeCalls: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
}

/** JSON turns NaN into null: back to NaN, so the numbers stay numbers. */
function nullsToNaN<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (_k, v) => (v === null ? NaN : v));
}

async function serverStats(statsPort: number, reset: boolean, gc = false): Promise<ServerStats> {
  const query = [reset ? "reset=1" : "", gc ? "gc=1" : ""].filter(Boolean).join("&");
  const res = await fetch(`http://127.0.0.1:${statsPort}/stats${query ? `?${query}` : ""}`);
  return nullsToNaN(await res.json() as ServerStats);
}

/** Runs one load measurement. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const say = options.progress ?? (() => {});
  const notes: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "voice-agent-load-" });
  const workerScript = new URL("./harness_worker.ts", import.meta.url).pathname;
  const denoFlags = [
    "--allow-net",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    // Several model processes share one port (SO_REUSEPORT), which Deno still calls unstable.
    "--unstable-net",
    // LOAD_WORKER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the harness processes.
    ...(Deno.env.get("LOAD_WORKER_FLAGS")?.split(" ").filter(Boolean) ?? []),
  ];
  // A distant model: its processes run in a namespace behind a delay (see netdelay.py).
  const far: FarNetwork | undefined = options.modelDelayMs
    ? await startFarNetwork(options.modelDelayMs, options.harnessNice)
    : undefined;
  if (far) notes.push(`fake model ${far.delayMs} ms away each way (netdelay.py)`);
  const spawnWorkers = (role: string, n: number) =>
    Array.from({ length: n }, (_, i) =>
      RpcChild.spawn(workerScript, {
        name: `${role}-${i}`,
        denoFlags,
        args: [`--role=${role === "callers" ? "callers" : "model"}`],
        cpus: options.harnessCpus,
        nice: options.harnessNice,
        netns: role === "callers" ? undefined : far?.netns,
      }));
  const models = spawnWorkers("model", options.modelProcs ?? defaultProcs(options.calls));
  const callerProcs = spawnWorkers("callers", options.callerProcs ?? defaultProcs(options.calls));
  const workers = [...models, ...callerProcs];
  let server: ServerProcess | undefined;
  try {
    // The fake model: every process on one port (the kernel spreads the connections).
    const scenario = {
      ...options.scenario,
      // The sample does not ask for a greeting: its caller talks first.
      ...(options.bridge === "sample" ? { callerSpeaksFirst: true } : {}),
    };
    const share = models.length > 1;
    const first = await models[0].call<{ url: string }>("start", {
      port: 0,
      hostname: far?.host,
      reusePort: share,
      apiKey: LOAD_API_KEY,
      scenario,
      sessionBase: 0,
    });
    const modelPort = Number(new URL(first.url.replace(/^ws/, "http")).port);
    await Promise.all(
      models.slice(1).map((m, i) =>
        m.call("start", {
          port: modelPort,
          hostname: far?.host,
          reusePort: true,
          apiKey: LOAD_API_KEY,
          scenario,
          sessionBase: (i + 1) * SESSION_STRIDE,
        })
      ),
    );
    server = options.bridge === "sample"
      ? await spawnSample(options, first.url, say, notes)
      : await spawnDenoBridge(options, first.url, `${dir}/agent.db`);
    const pid = server.pid;
    await sleep(1000);
    const rssIdle = await rssBytes(pid);
    const fdsIdle = await openFds(pid);
    const idleStats = await serverStats(server.statsPort, false);
    const liveHeapIdleMiB = (await serverStats(server.statsPort, false, true)).heapUsedMiB;

    // Ramp up, the calls spread over the caller processes.
    const target = {
      serverUrl: `http://127.0.0.1:${server.port}`,
      publicUrl: LOAD_PUBLIC_URL,
      authToken: LOAD_AUTH_TOKEN,
      format: options.format,
      webhookPath: server.webhookPath,
    };
    await Promise.all(callerProcs.map((c) => c.call("start", { target })));
    const per = Math.ceil(options.calls / callerProcs.length);
    const concurrency = Math.max(
      1,
      Math.ceil((options.dialConcurrency ?? 20) / callerProcs.length),
    );
    const dialled = await Promise.all(callerProcs.map((c, i) => {
      const from = i * per;
      const count = Math.max(0, Math.min(per, options.calls - from));
      return c.call<{ connected: number; failed: number; errors: string[] }>("dial", {
        from,
        count,
        concurrency,
      });
    }));
    const connected = dialled.reduce((n, d) => n + d.connected, 0);
    for (const e of dialled.flatMap((d) => d.errors)) say(`dial failed: ${e}`);
    say(`${connected}/${options.calls} calls connected`);
    const heard = async () =>
      (await Promise.all(callerProcs.map((c) => c.call<{ heard: number }>("status"))))
        .reduce((n, s) => n + s.heard, 0);
    const greetDeadline = Date.now() + 15_000;
    while ((await heard()) < connected && Date.now() < greetDeadline) await sleep(100);
    await sleep((options.warmupSeconds ?? 2) * 1000);

    // Measure.
    await serverStats(server.statsPort, true);
    await Promise.all(workers.map((w) => w.call("windowStart")));
    const procs = [...workers.map((w) => ({ name: w.name, pid: w.pid })), {
      name: "coordinator",
      pid: Deno.pid,
    }];
    const cpuOf = () => Promise.all(procs.map((p) => cpuSeconds(p.pid)));
    const coresA = await coreTimes();
    const harnessA = await cpuOf();
    const cpuA = await cpuSeconds(pid);
    const wA = wallClockMs();
    const tA = performance.now();
    const soak: SoakSample[] = [];
    const every = (options.sampleEverySeconds ?? options.seconds) * 1000;
    let lastCpu = cpuA;
    let lastT = tA;
    while (performance.now() - tA < options.seconds * 1000) {
      await sleep(Math.min(every, options.seconds * 1000 - (performance.now() - tA)));
      if (options.sampleEverySeconds) {
        const now = performance.now();
        const cpu = await cpuSeconds(pid);
        const st = await serverStats(server.statsPort, false, true);
        const s: SoakSample = {
          atS: Math.round((now - tA) / 1000),
          rssMiB: await rssBytes(pid) / 2 ** 20,
          fds: await openFds(pid),
          cpuPct: (100 * (cpu - lastCpu)) / ((now - lastT) / 1000),
          activeCalls: st.activeCalls,
          liveHeapMiB: st.heapUsedMiB,
        };
        soak.push(s);
        say(
          `t=${s.atS}s rss=${s.rssMiB.toFixed(1)}MiB heap=${
            s.liveHeapMiB.toFixed(1)
          }MiB fds=${s.fds} cpu=${s.cpuPct.toFixed(0)}% calls=${s.activeCalls}`,
        );
        lastCpu = cpu;
        lastT = now;
      }
    }
    const cpuB = await cpuSeconds(pid);
    const harnessB = await cpuOf();
    const coresB = await coreTimes();
    const wB = wallClockMs();
    const windowS = (performance.now() - tA) / 1000;
    const rssLoaded = await rssBytes(pid);
    const fdsLoaded = await openFds(pid);
    const server1 = await serverStats(server.statsPort, false);
    const perCall = (a: number, b: number) => ((b - a) * 1024) / (connected || 1);
    const ends = await Promise.all(
      workers.map((w) =>
        w.call<{ lag: Summary; received: Record<string, number> }>("windowEnd").then(nullsToNaN)
      ),
    );
    const lags = ends.map((e) => e.lag);
    const received: Record<string, number> = {};
    for (const e of ends) {
      for (const [k, v] of Object.entries(e.received)) received[k] = (received[k] ?? 0) + v;
    }
    const average = await loadAverage();

    // Quiesce, let frames in flight land (a backlogged bridge may take a while: wait until
    // no message has moved for a second, up to 30 s), then collect what every process
    // recorded. A frame that never arrives is lost; a late one shows in the latencies.
    await Promise.all(models.map((m) => m.call("quiesce")));
    await Promise.all(callerProcs.map((c) => c.call("pause")));
    const drainStart = performance.now();
    const progress = async () =>
      (await Promise.all(workers.map((w) => w.call<number>("progress")))).reduce((a, b) => a + b);
    await sleep(1500);
    for (let last = -1, now = await progress(); now !== last;) {
      if (performance.now() - drainStart > 30_000) break;
      await sleep(1000);
      last = now;
      now = await progress();
    }
    const drainS = (performance.now() - drainStart) / 1000;
    const calls: CallRecord[] = [];
    const sessions: SessionRecord[] = [];
    await Promise.all(workers.map(async (w) => {
      const path = `${dir}/${w.name}.json`;
      await w.call("collect", { path });
      const data = JSON.parse(await Deno.readTextFile(path));
      // LOAD_KEEP_RECORDS=DIR keeps what each process recorded (to look into a loss).
      const keep = Deno.env.get("LOAD_KEEP_RECORDS");
      if (keep) await Deno.copyFile(path, `${keep}/${w.name}.json`);
      await Deno.remove(path);
      if (data.calls) calls.push(...data.calls.map(decodeCall));
      if (data.sessions) sessions.push(...data.sessions.map(decodeSession));
    }));
    const reports = await Promise.all(workers.map((w) => w.call<WorkerReport>("report")));
    const joined = joinRecords(calls, sessions, options.format, [wA, wB]);
    if (Deno.env.get("LOAD_KEEP_RECORDS")) say(`window (wall-clock ms): ${wA} - ${wB}`);

    // Hang up and check the server let go of everything.
    await Promise.all(callerProcs.map((c) => c.call("hangUp")));
    let after = await serverStats(server.statsPort, false);
    const releaseDeadline = Date.now() + 10_000;
    while (after.activeCalls > 0 && Date.now() < releaseDeadline) {
      await sleep(200);
      after = await serverStats(server.statsPort, false);
    }
    await sleep(1000);
    const fdsAfter = await openFds(pid);
    const liveHeapAfterMiB = (await serverStats(server.statsPort, false, true)).heapUsedMiB;

    const n = connected || 1;
    const serverCpuS = cpuB - cpuA;
    const cpuPct = (100 * serverCpuS) / windowS;
    const harnessProcs: HarnessProcess[] = procs.map((p, i) => ({
      name: p.name,
      cpuPct: (100 * (harnessB[i] - harnessA[i])) / windowS,
      // The coordinator only reads /proc and waits; its loop lag is not measured.
      lag: i < lags.length ? lags[i] : new Histogram().summary(),
    }));
    const harnessCpuPct = harnessProcs.reduce((s, p) => s + p.cpuPct, 0);
    const coresBusy = coreBusyPct(coresA, coresB);
    const machineBusy = coresBusy.reduce((s, v) => s + (Number.isFinite(v) ? v : 0), 0);
    const worstLag = harnessProcs.reduce((w, p) => (p.lag.p99 > w.p99 ? p.lag : w), lags[0]);
    const relayed = joined.upRelayed + joined.downRelayed;
    return {
      bridge: options.bridge,
      format: options.format,
      calls: options.calls,
      callsConnected: connected,
      windowS,
      up: joined.up.summary(),
      down: joined.down.summary(),
      turn: joined.turn.summary(),
      bargeIn: joined.bargeIn.summary(),
      inBridge: server1.bridge,
      bargeInsSent: joined.bargeInsSent,
      clearsReceived: joined.clearsReceived,
      upLost: joined.upLost,
      upLostWithSetup: joined.upLostWithSetup,
      downLost: joined.downLost,
      downLostWithSetup: joined.downLostWithSetup,
      framesUp: joined.framesUp,
      framesDown: joined.framesDown,
      upRelayed: joined.upRelayed,
      downRelayed: joined.downRelayed,
      harnessPace: joined.upSentInWindow / (connected * windowS * (1000 / FRAME_MS) || 1),
      misordered: reports.reduce((s, r) => s + r.misordered, 0),
      messagesReceived: received,
      violations: reports.reduce((s, r) => s + r.violations, 0),
      violationLog: reports.flatMap((r) => r.violationLog).slice(0, 10),
      unboundCalls: joined.unboundCalls,
      cpuPct,
      cpuPctPerCall: cpuPct / n,
      cpuUsPerFrame: relayed > 0 ? (serverCpuS * 1e6) / relayed : NaN,
      cpuMsPerCallSecond: (serverCpuS * 1000) / (n * windowS),
      harnessCpuPct,
      harnessProcs,
      coresBusyPct: coresBusy,
      othersCpuPct: Math.max(0, machineBusy - cpuPct - harnessCpuPct),
      loadAvg: average,
      rssIdleMiB: rssIdle / 2 ** 20,
      rssLoadedMiB: rssLoaded / 2 ** 20,
      rssPerCallKiB: (rssLoaded - rssIdle) / 1024 / n,
      heapTotalPerCallKiB: perCall(idleStats.heapTotalMiB, server1.heapTotalMiB),
      heapUsedPerCallKiB: perCall(idleStats.heapUsedMiB, server1.heapUsedMiB),
      externalPerCallKiB: perCall(idleStats.externalMiB, server1.externalMiB),
      fdsIdle,
      fdsLoaded,
      fdsAfter,
      liveHeapIdleMiB,
      liveHeapAfterMiB,
      activeCallsAfter: after.activeCalls,
      serverLag: server1.lag,
      harnessLag: worstLag,
      serverStderrLines: server.stderrLines(),
      serverStderr: server.stderr,
      soak,
      notes: drainS > 3
        ? [...notes, `traffic took ${drainS.toFixed(1)} s to stop after the window: backlog`]
        : notes,
      drainS,
    };
  } finally {
    await Promise.allSettled(callerProcs.map((c) => c.call("close")));
    await server?.stop();
    await Promise.allSettled(models.map((m) => m.call("close")));
    await Promise.allSettled(workers.map((w) => w.close()));
    await far?.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
