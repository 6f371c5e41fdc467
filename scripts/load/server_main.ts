/**
 * The bridge under test, in its own process (so /proc CPU and RSS are the bridge's only).
 *
 * ```sh
 * deno run -A scripts/load/server_main.ts --bridge=ours --format=pcmu \
 *   --model-url=ws://127.0.0.1:PORT/v1/realtime --db=/tmp/x/agent.db
 * ```
 *
 * Prints one JSON line on stdout once listening: `{"ready":true,"port":P,"statsPort":S}`.
 * `GET http://127.0.0.1:S/stats?reset=1` returns the event-loop lag (setInterval drift,
 * 10 ms period) and the in-bridge added latency (`bridge`: up, down, bargeIn; see
 * `bridge_probe.ts`) since the last reset, the number of active calls and the V8 heap in
 * use (`&gc=1` collects garbage first, when run with `--v8-flags=--expose-gc`). SIGTERM stops it
 * (graceful for our bridge: drain, then close the database).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BridgeProbe } from "./bridge_probe.ts";
import { LOAD_API_KEY, LOAD_AUTH_TOKEN, LOAD_PUBLIC_URL } from "./probe.ts";
import { LoopLag } from "./stats.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      bridge: { type: "string", default: "ours" },
      format: { type: "string", default: "pcmu" },
      "model-url": { type: "string" },
      db: { type: "string" },
      // The model socket's client: unset, the product's default; `ws`, `builtin`, or the
      // hand-written `nodelay` experiment.
      ws: { type: "string" },
      // Agent audio between Twilio marks; 0 marks every chunk (the way before marks were thinned).
      "mark-interval-ms": { type: "string" },
      // `--probe=off` runs without the in-bridge probe (to measure what the probe costs).
      probe: { type: "string", default: "on" },
      // Another checkout's `src/` (e.g. an older commit) to measure instead of this one's.
      src: { type: "string" },
    },
  });
  const modelUrl = values["model-url"];
  if (!modelUrl) throw new Error("--model-url is required");
  const lag = new LoopLag();
  lag.start(10);
  // Before any socket exists: the probe wraps the socket constructors.
  const probe = new BridgeProbe();
  if (values.probe !== "off") probe.install();
  let activeCalls = () => 0;
  let stop: () => Promise<void>;
  let port: number;
  // Each bridge loads only its own modules, so idle RSS is that bridge's alone (the
  // baseline must not carry our service's module graph).
  if (values.bridge === "baseline") {
    const { startBaselineBridge } = await import("./baseline_bridge.ts");
    const server = startBaselineBridge({
      modelUrl,
      apiKey: LOAD_API_KEY,
      publicHost: new URL(LOAD_PUBLIC_URL).host,
    });
    port = server.addr.port;
    stop = () => server.shutdown();
  } else {
    const src = values.src
      ? new URL(values.src.endsWith("/") ? values.src : `${values.src}/`, `file://${Deno.cwd()}/`)
      : new URL("../../src/", import.meta.url);
    const { startApp } = await import(
      new URL("app.ts", src).href
    ) as typeof import("../../src/app.ts");
    const { loadConfig } = await import(
      new URL("config.ts", src).href
    ) as typeof import("../../src/config.ts");
    const { setupLogging } = await import(
      new URL("log.ts", src).href
    ) as typeof import("../../src/log.ts");
    const { NoDelayWebSocket } = await import("./nodelay_websocket.ts");
    // The measured checkout's own client choice (one from before npm `ws` has none).
    const nodeWs = await import(new URL("realtime/node_ws.ts", src).href).catch(() => undefined) as
      | typeof import("../../src/realtime/node_ws.ts")
      | undefined;
    // Warnings and errors only: per-call info lines are not what is being measured.
    await setupLogging({ level: "warning", format: "json" });
    const config = {
      ...loadConfig({
        PUBLIC_URL: LOAD_PUBLIC_URL,
        OPENAI_API_KEY: LOAD_API_KEY,
        TWILIO_AUTH_TOKEN: LOAD_AUTH_TOKEN,
        OPENAI_REALTIME_URL: modelUrl,
        AUDIO_FORMAT: values.format,
        DATABASE_URL: `sqlite:${values.db ?? "./data/load.db"}`,
        HOST: "127.0.0.1",
        MAX_CALLS: "5000",
        DRAIN_SECONDS: "2",
        LOG_LEVEL: "warning",
        ...(values.ws === "ws" || values.ws === "builtin"
          ? { OPENAI_WEBSOCKET_CLIENT: values.ws }
          : {}),
      }),
      port: 0,
    };
    // The product's client comes from the configuration; `--ws=nodelay` is an experiment.
    const factory = values.ws === "nodelay"
      ? (url: string, headers: Record<string, string>) =>
        new NoDelayWebSocket(url, { headers }) as unknown as WebSocket
      : nodeWs?.webSocketFactoryFor(config.openai.webSocketClient);
    // The probe sees the built-in client through its wrapped `WebSocket`; others it is shown.
    const connectionOptions = factory
      ? {
        webSocketFactory: (url: string, headers: Record<string, string>) => {
          const socket = factory(url, headers);
          if (values.probe !== "off") probe.watchModelSocket(socket);
          return socket;
        },
      }
      : {};
    const app = await startApp(config, {
      goodbyeSeconds: 2,
      callManager: {
        connectionOptions,
        limits: values["mark-interval-ms"] === undefined
          ? {}
          : { markIntervalMs: Number(values["mark-interval-ms"]) },
      },
    });
    port = app.server.addr.port;
    activeCalls = () => app.calls.activeCount;
    stop = () => app.stop();
  }
  const stats = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const params = new URL(req.url).searchParams;
    // `?gc=1` (the harness starts the server with --expose-gc): live heap, not garbage.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (params.has("gc") && gc) gc();
    const body = {
      heapUsedMiB: Deno.memoryUsage().heapUsed / 2 ** 20,
      // Where the RSS is: V8's committed heap, and memory outside it V8 knows of.
      heapTotalMiB: Deno.memoryUsage().heapTotal / 2 ** 20,
      externalMiB: Deno.memoryUsage().external / 2 ** 20,
      lag: lag.samples.summary(),
      bridge: {
        up: probe.up.summary(),
        down: probe.down.summary(),
        bargeIn: probe.bargeIn.summary(),
        toBridgeUp: probe.toBridgeUp.summary(),
        toBridgeDown: probe.toBridgeDown.summary(),
      },
      activeCalls: activeCalls(),
    };
    if (params.has("reset")) {
      lag.samples.clear();
      probe.reset();
    }
    return Response.json(body);
  });
  const shutdown = () => {
    lag.stop();
    void Promise.all([stop(), stats.shutdown()]).finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", shutdown);
  // The harness holds our stdin open: when it closes, the harness is gone (killed or done).
  void (async () => {
    for await (const _ of Deno.stdin.readable) { /* nothing is ever written */ }
    shutdown();
  })();
  console.log(JSON.stringify({ ready: true, port, statsPort: stats.addr.port }));
}

if (import.meta.main) await main();
