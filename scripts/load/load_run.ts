/**
 * One load run: starts the lean fake model and the bridge (in its own process), dials N
 * simulated calls, measures for a window, then checks every frame arrived and tears
 * everything down. Used by `scripts/load/run.ts` (`deno task bench:load`) and by the
 * small load test.
 *
 * @module
 */
import { closeWebhookClient, LoadCaller } from "./caller.ts";
import { type Scenario, startFakeModel } from "./fake_model.ts";
import { LOAD_API_KEY, LOAD_AUTH_TOKEN, LOAD_PUBLIC_URL, ProbeRegistry, Ticker } from "./probe.ts";
import { cpuSeconds, LoopLag, openFds, rssBytes, type Summary } from "./stats.ts";

/** What `bridge_probe.ts` measured in the bridge process (ms). */
export interface InBridge {
  up: Summary;
  down: Summary;
  bargeIn: Summary;
  /** Fake's send -> the frame reaches the bridge's JavaScript. */
  toBridgeUp: Summary;
  toBridgeDown: Summary;
}

/** Which bridge runs in the server process. */
export type BridgeKind = "baseline" | "ours";

/** Options of {@linkcode runLoad}. */
export interface LoadOptions {
  bridge: BridgeKind;
  format: "pcmu" | "pcm16";
  calls: number;
  /** Measurement window, s. */
  seconds: number;
  /** Time after every call heard its greeting before measuring, s. Default 2. */
  warmupSeconds?: number;
  /** Calls dialled at once while ramping up. Default 20. */
  dialConcurrency?: number;
  scenario?: Partial<Scenario>;
  /** Model socket of our bridge: Deno's built-in `std` WebSocket (default, the product) or the `nodelay` experiment. */
  ws?: "nodelay" | "std";
  /** Agent audio between Twilio marks in our bridge (ms); default the product's (100). */
  markIntervalMs?: number;
  /** Install the in-bridge probe in the server (default true; false measures its cost). */
  probe?: boolean;
  /** Sample RSS / descriptors / CPU every this many s during the window (soak). */
  sampleEverySeconds?: number;
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

/** Everything one run measured. */
export interface LoadResult {
  bridge: BridgeKind;
  format: "pcmu" | "pcm16";
  calls: number;
  callsConnected: number;
  windowS: number;
  /** Added latency per frame, caller -> model and model -> caller (ms). */
  up: Summary;
  down: Summary;
  /** Model's first audio delta of a response -> first media frame at the caller (ms). */
  turn: Summary;
  /** Model sent speech_started -> caller got `clear` (ms, loopback both ways included). */
  bargeIn: Summary;
  /**
   * Measured inside the bridge process (`bridge_probe.ts`): frame arrives on one socket ->
   * leaves on the other, and speech_started arrives -> clear leaves (ms; `pcmu` only).
   */
  inBridge: InBridge;
  bargeInsSent: number;
  clearsReceived: number;
  /** Caller frames lost after call setup (both bridges must be 0). */
  upLost: number;
  /** Caller frames lost counting call setup too. */
  upLostWithSetup: number;
  /** Model frames lost on the way to the caller. */
  downLost: number;
  framesUp: number;
  framesDown: number;
  misordered: number;
  violations: number;
  violationLog: string[];
  /** Server CPU over the window: % of one core, total and per call. */
  cpuPct: number;
  cpuPctPerCall: number;
  /** The harness process's CPU over the window (callers and fake model), % of one core. */
  harnessCpuPct: number;
  /** Server RSS: idle before the calls, loaded at the end of the window, per call (KiB). */
  rssIdleMiB: number;
  rssLoadedMiB: number;
  rssPerCallKiB: number;
  /** Open descriptors: idle, loaded, after every call hung up. */
  fdsIdle: number;
  fdsLoaded: number;
  fdsAfter: number;
  activeCallsAfter: number;
  /** V8 heap in use after a full collection: before the calls and after every hang-up. */
  liveHeapIdleMiB: number;
  liveHeapAfterMiB: number;
  /** Event-loop lag of the server and of the harness over the window (ms). */
  serverLag: Summary;
  harnessLag: Summary;
  /** Warnings/errors the server printed (first lines kept). */
  serverStderrLines: number;
  serverStderr: string[];
  soak: SoakSample[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `p`, but at most `ms` (the timer is cleared either way). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

interface ServerProcess {
  pid: number;
  port: number;
  statsPort: number;
  stderrLines: () => number;
  stderr: string[];
  stop(): Promise<void>;
}

async function spawnServer(
  bridge: BridgeKind,
  format: string,
  modelUrl: string,
  db: string,
  ws: string,
  markIntervalMs: number | undefined,
  probe: boolean,
): Promise<ServerProcess> {
  const script = new URL("./server_main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-sys",
      // Lets the stats endpoint collect garbage before reading the live heap (soak).
      "--v8-flags=--expose-gc",
      // LOAD_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server.
      ...(Deno.env.get("LOAD_SERVER_FLAGS")?.split(" ").filter(Boolean) ?? []),
      script,
      `--bridge=${bridge}`,
      `--format=${format}`,
      `--model-url=${modelUrl}`,
      `--db=${db}`,
      `--ws=${ws}`,
      ...(markIntervalMs === undefined ? [] : [`--mark-interval-ms=${markIntervalMs}`]),
      `--probe=${probe ? "on" : "off"}`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  let stderrLines = 0;
  const stderrDone = (async () => {
    const decoder = new TextDecoderStream();
    let rest = "";
    for await (const chunk of child.stderr.pipeThrough(decoder)) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        stderrLines++;
        if (stderr.length < 20) stderr.push(line.slice(0, 300));
      }
    }
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let ready: { port: number; statsPort: number } | undefined;
  const deadline = Date.now() + 30_000;
  while (!ready && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    for (const line of buffered.split("\n")) {
      if (line.startsWith('{"ready"')) ready = JSON.parse(line);
    }
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const stdoutDone = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  if (!ready) {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await Promise.allSettled([stderrDone, stdoutDone]);
    throw new Error(`server did not start: ${stderr.join("\n")}`);
  }
  return {
    pid: child.pid,
    port: ready.port,
    statsPort: ready.statsPort,
    stderrLines: () => stderrLines,
    stderr,
    async stop() {
      const kill = (signal: Deno.Signal) => {
        try {
          child.kill(signal);
        } catch { /* already exited */ }
      };
      kill("SIGTERM");
      const timer = setTimeout(() => kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(timer);
      await Promise.allSettled([stderrDone, stdoutDone]);
    },
  };
}

async function serverStats(
  statsPort: number,
  reset: boolean,
  gc = false,
): Promise<
  { lag: Summary; bridge: InBridge; activeCalls: number; heapUsedMiB: number }
> {
  const query = [reset ? "reset=1" : "", gc ? "gc=1" : ""].filter(Boolean).join("&");
  const res = await fetch(`http://127.0.0.1:${statsPort}/stats${query ? `?${query}` : ""}`);
  return await res.json();
}

/** Runs one load measurement. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const say = options.progress ?? (() => {});
  const registry = new ProbeRegistry();
  const stats = registry.stats;
  const ticker = new Ticker();
  const harnessLag = new LoopLag();
  const dir = await Deno.makeTempDir({ prefix: "voice-agent-load-" });
  const model = await startFakeModel({
    registry,
    ticker,
    apiKey: LOAD_API_KEY,
    scenario: options.scenario,
  });
  let server: ServerProcess | undefined;
  const callers: LoadCaller[] = [];
  try {
    server = await spawnServer(
      options.bridge,
      options.format,
      model.url,
      `${dir}/agent.db`,
      options.ws ?? "std",
      options.markIntervalMs,
      options.probe ?? true,
    );
    const pid = server.pid;
    await sleep(500);
    const rssIdle = await rssBytes(pid);
    const fdsIdle = await openFds(pid);
    const liveHeapIdleMiB = (await serverStats(server.statsPort, false, true)).heapUsedMiB;
    ticker.start(2);
    harnessLag.start(10);

    // Ramp up.
    const target = {
      serverUrl: `http://127.0.0.1:${server.port}`,
      publicUrl: LOAD_PUBLIC_URL,
      authToken: LOAD_AUTH_TOKEN,
      format: options.format,
    };
    const concurrency = options.dialConcurrency ?? 20;
    let failed = 0;
    for (let i = 0; i < options.calls; i += concurrency) {
      const batch = Math.min(concurrency, options.calls - i);
      const dialled = await Promise.allSettled(
        Array.from({ length: batch }, () => LoadCaller.dial(target, registry)),
      );
      for (const d of dialled) {
        if (d.status === "fulfilled") {
          callers.push(d.value);
          ticker.add(d.value);
        } else {
          failed++;
          if (failed <= 3) say(`dial failed: ${d.reason}`);
        }
      }
    }
    say(`${callers.length}/${options.calls} calls connected`);
    const greetDeadline = Date.now() + 15_000;
    while (
      callers.some((c) => c.probe.steadyFromSeq === Infinity) && Date.now() < greetDeadline
    ) await sleep(100);
    await sleep((options.warmupSeconds ?? 2) * 1000);

    // Measure.
    await serverStats(server.statsPort, true);
    harnessLag.samples.clear();
    const cpuA = await cpuSeconds(pid);
    const harnessCpuA = await cpuSeconds(Deno.pid);
    const tA = performance.now();
    stats.measuring = true;
    const soak: SoakSample[] = [];
    const every = (options.sampleEverySeconds ?? options.seconds) * 1000;
    let lastCpu = cpuA;
    let lastT = tA;
    while (performance.now() - tA < options.seconds * 1000) {
      await sleep(Math.min(every, options.seconds * 1000 - (performance.now() - tA)));
      if (options.sampleEverySeconds) {
        const now = performance.now();
        const cpu = await cpuSeconds(pid);
        const s: SoakSample = {
          atS: Math.round((now - tA) / 1000),
          rssMiB: await rssBytes(pid) / 2 ** 20,
          fds: await openFds(pid),
          cpuPct: (100 * (cpu - lastCpu)) / ((now - lastT) / 1000),
          ...await (async () => {
            const st = await serverStats(server.statsPort, false, true);
            return { activeCalls: st.activeCalls, liveHeapMiB: st.heapUsedMiB };
          })(),
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
    stats.measuring = false;
    const cpuB = await cpuSeconds(pid);
    const harnessCpuB = await cpuSeconds(Deno.pid);
    const windowS = (performance.now() - tA) / 1000;
    const rssLoaded = await rssBytes(pid);
    const fdsLoaded = await openFds(pid);
    const server1 = await serverStats(server.statsPort, false);
    const harness = harnessLag.samples.summary();

    // Quiesce, let frames in flight land, then count.
    model.quiesce();
    for (const c of callers) c.pause();
    await sleep(1500);
    let upLost = 0;
    let upLostWithSetup = 0;
    let downLost = 0;
    let framesUp = 0;
    let framesDown = 0;
    for (const c of callers) {
      const p = c.probe;
      framesUp += p.upSent.length;
      upLostWithSetup += p.upSent.length - p.upReceived;
      if (p.steadyFromSeq !== Infinity) {
        upLost += p.upSent.length - p.steadyFromSeq - p.upReceivedSteady;
      } else upLost += p.upSent.length;
      const sent = p.down?.sent.length ?? 0;
      framesDown += sent;
      downLost += sent - p.downReceived;
    }

    // Hang up and check the server let go of everything.
    await Promise.all(callers.map((c) => within(c.hangUp(), 5000)));
    let after = await serverStats(server.statsPort, false);
    const releaseDeadline = Date.now() + 10_000;
    while (after.activeCalls > 0 && Date.now() < releaseDeadline) {
      await sleep(200);
      after = await serverStats(server.statsPort, false);
    }
    await sleep(1000);
    const fdsAfter = await openFds(pid);
    const liveHeapAfterMiB = (await serverStats(server.statsPort, false, true)).heapUsedMiB;
    if (Deno.env.get("LOAD_DEBUG_FDS")) {
      const tcp = Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1);
      for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
        try {
          const link = Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`);
          const inode = /socket:\[(\d+)\]/.exec(link)?.[1];
          const line = inode ? tcp.find((l) => l.trim().split(/\s+/)[9] === inode) : undefined;
          const port = (hex: string | undefined) => parseInt(hex?.split(":")[1] ?? "0", 16);
          const cols = line?.trim().split(/\s+/);
          say(
            `fd ${e.name} -> ${link} ${
              cols ? `${port(cols[1])}->${port(cols[2])} st=${cols[3]}` : ""
            }`,
          );
        } catch { /* gone */ }
      }
      say(`server port ${server.port}, model ${model.url}`);
    }
    const n = callers.length || 1;
    const cpuPct = (100 * (cpuB - cpuA)) / windowS;
    return {
      bridge: options.bridge,
      format: options.format,
      calls: options.calls,
      callsConnected: callers.length,
      windowS,
      up: stats.up.summary(),
      down: stats.down.summary(),
      turn: stats.turn.summary(),
      bargeIn: stats.bargeIn.summary(),
      inBridge: server1.bridge,
      bargeInsSent: stats.bargeInsSent,
      clearsReceived: stats.clearsReceived,
      upLost,
      upLostWithSetup,
      downLost,
      framesUp,
      framesDown,
      misordered: stats.misordered,
      violations: stats.violations,
      violationLog: stats.violationLog,
      cpuPct,
      cpuPctPerCall: cpuPct / n,
      harnessCpuPct: (100 * (harnessCpuB - harnessCpuA)) / windowS,
      rssIdleMiB: rssIdle / 2 ** 20,
      rssLoadedMiB: rssLoaded / 2 ** 20,
      rssPerCallKiB: (rssLoaded - rssIdle) / 1024 / n,
      fdsIdle,
      fdsLoaded,
      fdsAfter,
      liveHeapIdleMiB,
      liveHeapAfterMiB,
      activeCallsAfter: after.activeCalls,
      serverLag: server1.lag,
      harnessLag: harness,
      serverStderrLines: server.stderrLines(),
      serverStderr: server.stderr,
      soak,
    };
  } finally {
    for (const c of callers) ticker.delete(c);
    await Promise.all(callers.map((c) => within(c.hangUp(), 2000)));
    harnessLag.stop();
    closeWebhookClient();
    await server?.stop();
    ticker.stop();
    await model.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
