/**
 * The HTTP server: `Deno.serve` over the route table, with liveness and readiness
 * endpoints. The composition of routes lives in `src/app.ts`; this module only serves.
 *
 * @module
 */
import { createRouter, json, type Route } from "./http.ts";
import { logger } from "./log.ts";

const log = logger("server");

/** Facts `GET /healthz` reports. */
export interface HealthInfo {
  version: string;
  startedAt: number;
}

/** Routes every instance serves regardless of telephony: `/healthz` and `/readyz`. */
export function healthRoutes(
  info: HealthInfo,
  readiness: () => Promise<{ ready: boolean; checks: Record<string, string> }>,
): Route[] {
  return [
    {
      method: "GET",
      path: "/healthz",
      handler: () =>
        json({
          status: "ok",
          version: info.version,
          uptimeSeconds: Math.round((Date.now() - info.startedAt) / 1000),
        }),
    },
    {
      method: "GET",
      path: "/readyz",
      handler: async () => {
        const { ready, checks } = await readiness();
        return json({ status: ready ? "ready" : "not ready", checks }, ready ? 200 : 503);
      },
    },
  ];
}

/** Options for {@linkcode startServer}. */
export interface ServerOptions {
  hostname: string;
  port: number;
  routes: Route[];
}

/** A running server. */
export interface RunningServer {
  /** The bound address (port 0 picks a free one, useful in tests). */
  addr: Deno.NetAddr;
  /** Resolves once the server has stopped. */
  finished: Promise<void>;
  /** Stops accepting connections and waits for open requests to end. */
  shutdown(): Promise<void>;
}

/** Starts serving the route table. Errors in a handler become a JSON 500, never a crash. */
export function startServer(options: ServerOptions): RunningServer {
  const route = createRouter(options.routes);
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: () => {},
    onError: (error) => {
      log.error("unhandled error in request handler: {error}", { error });
      return json({ error: { status: 500, message: "internal error" } }, 500);
    },
  }, (req, info) => {
    const remote = info.remoteAddr as Deno.NetAddr;
    return route(req, remote.hostname);
  });
  const addr = server.addr as Deno.NetAddr;
  log.info("listening on http://{host}:{port}", { host: addr.hostname, port: addr.port });
  return { addr, finished: server.finished, shutdown: () => server.shutdown() };
}
