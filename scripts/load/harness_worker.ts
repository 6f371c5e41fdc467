/**
 * One process of the load harness, driven by the coordinator (`load_run.ts`) over
 * {@linkcode serveRpc}: either a share of the simulated callers (`--role=callers`) or one
 * of the fake model's processes (`--role=model`, all of them on one port). Spreading the
 * harness over processes keeps any one event loop from saturating before the bridge does;
 * each process has its own ticker and measures its own event-loop lag. At the end each
 * writes what it recorded to a file the coordinator joins (see `timeline.ts`).
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-write --allow-env scripts/load/harness_worker.ts --role=model
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { closeWebhookClient, type DialTarget, LoadCaller } from "./caller.ts";
import { type FakeModel, type Scenario, startFakeModel } from "./fake_model.ts";
import { Ticker, Violations } from "./probe.ts";
import { type RpcHandler, serveRpc } from "./rpc.ts";
import { LoopLag } from "./stats.ts";
import { encodeCall, encodeSession } from "./timeline.ts";

/** Waits for `p`, but at most `ms` (the timer is cleared either way). */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** What every harness process reports when collected. */
export interface WorkerReport {
  violations: number;
  violationLog: string[];
  misordered: number;
}

function common(violations: Violations, lag: LoopLag): Record<string, RpcHandler> {
  return {
    /** The measurement window starts: lag and message counts from zero. */
    windowStart: () => {
      lag.samples.clear();
      violations.received = {};
    },
    /** Messages received from the bridge since the window started (to see traffic stop). */
    progress: () => Object.values(violations.received).reduce((a, b) => a + b, 0),
    /** The window ends: event-loop lag and the messages received during it. */
    windowEnd: () => ({ lag: lag.samples.summary(), received: { ...violations.received } }),
    report: (): WorkerReport => ({
      violations: violations.count,
      violationLog: violations.log,
      misordered: violations.misordered,
    }),
  };
}

function modelHandlers(violations: Violations, ticker: Ticker): Record<string, RpcHandler> {
  let model: FakeModel | undefined;
  const need = () => {
    if (!model) throw new Error("model not started");
    return model;
  };
  return {
    start: async (p: {
      port: number;
      hostname?: string;
      reusePort: boolean;
      apiKey: string;
      scenario?: Partial<Scenario>;
      sessionBase: number;
    }) => {
      model = await startFakeModel({ violations, ticker, ...p });
      ticker.start(2);
      return { url: model.url };
    },
    status: () => ({ opened: need().sessionsOpened, bound: need().sessionsBound }),
    quiesce: () => need().quiesce(),
    collect: async (p: { path: string }) => {
      const sessions = need().records().map(encodeSession);
      await Deno.writeTextFile(p.path, JSON.stringify({ sessions }));
    },
    close: async () => {
      ticker.stop();
      await model?.close();
    },
  };
}

function callerHandlers(violations: Violations, ticker: Ticker): Record<string, RpcHandler> {
  let target: DialTarget | undefined;
  const callers: LoadCaller[] = [];
  return {
    start: (p: { target: DialTarget }) => {
      target = p.target;
      ticker.start(2);
    },
    /** Dials calls `from` .. `from + count - 1`, `concurrency` at a time. */
    dial: async (p: { from: number; count: number; concurrency: number }) => {
      if (!target) throw new Error("callers not started");
      let failed = 0;
      const errors: string[] = [];
      for (let i = 0; i < p.count; i += p.concurrency) {
        const batch = Math.min(p.concurrency, p.count - i);
        const dialled = await Promise.allSettled(
          Array.from(
            { length: batch },
            (_, k) => LoadCaller.dial(target!, p.from + i + k, violations),
          ),
        );
        for (const d of dialled) {
          if (d.status === "fulfilled") {
            callers.push(d.value);
            ticker.add(d.value);
          } else {
            failed++;
            if (errors.length < 3) errors.push(String(d.reason));
          }
        }
      }
      return { connected: p.count - failed, failed, errors };
    },
    status: () => ({ calls: callers.length, heard: callers.filter((c) => c.heardAudio).length }),
    pause: () => {
      for (const c of callers) c.pause();
    },
    collect: async (p: { path: string }) => {
      const calls = callers.map((c) => encodeCall(c.record()));
      await Deno.writeTextFile(p.path, JSON.stringify({ calls }));
    },
    hangUp: async () => {
      for (const c of callers) ticker.delete(c);
      await Promise.all(callers.map((c) => within(c.hangUp(), 5000)));
    },
    close: async () => {
      for (const c of callers) ticker.delete(c);
      await Promise.all(callers.map((c) => within(c.hangUp(), 2000)));
      ticker.stop();
      closeWebhookClient();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: { role: { type: "string" } } });
  const violations = new Violations();
  const ticker = new Ticker();
  const lag = new LoopLag();
  lag.start(10);
  const role = values.role === "model"
    ? modelHandlers(violations, ticker)
    : values.role === "callers"
    ? callerHandlers(violations, ticker)
    : undefined;
  if (!role) throw new Error(`--role must be model or callers, not ${values.role}`);
  await serveRpc({ ...common(violations, lag), ...role });
  // The coordinator closed our stdin: it is done with us (close already ran, or it died).
  lag.stop();
  ticker.stop();
  Deno.exit(0);
}

if (import.meta.main) await main();
