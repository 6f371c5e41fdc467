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
  /**
   * The route table. It may be given later with {@linkcode RunningServer.setRoutes}, so the
   * address can be bound before anything else is set up; until then every request gets 503.
   */
  routes?: Route[];
}

/** A running server. */
export interface RunningServer {
  /** The bound address (port 0 picks a free one, useful in tests). */
  addr: Deno.NetAddr;
  /** Resolves once the server has stopped. */
  finished: Promise<void>;
  /** Serves this route table from now on. */
  setRoutes(routes: Route[]): void;
  /** Stops accepting connections and waits for open requests to end. */
  shutdown(): Promise<void>;
}

/**
 * The address cannot be listened on. The message names the address and the setting to
 * change (`HOST`, `PORT`), ready for an operator.
 */
export class ListenError extends Error {
  /** Builds the error from what `Deno.serve` threw. */
  constructor(hostname: string, port: number, cause: unknown) {
    super(listenErrorMessage(hostname, port, cause), { cause });
    this.name = "ListenError";
  }
}

function listenErrorMessage(hostname: string, port: number, cause: unknown): string {
  const address = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  const head = `cannot listen on ${address} (HOST=${hostname}, PORT=${port})`;
  const detail = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof Deno.errors.AddrInUse) {
    return `${head}: the port is already in use by another program (or another voice-agent). ` +
      "Stop it, or set PORT to a free port.";
  }
  const hostHint = "Set HOST to an address of this machine: 127.0.0.1 (loopback, the default, " +
    "behind a reverse proxy) or 0.0.0.0 (every interface).";
  if (cause instanceof Deno.errors.AddrNotAvailable) {
    return `${head}: ${hostname} is not an address of this machine. ${hostHint}`;
  }
  if (cause instanceof Deno.errors.PermissionDenied) {
    return `${head}: the system does not allow it (${detail}); ports below 1024 need ` +
      "privileges. Set PORT to 1024 or above (e.g. 8080) and put a reverse proxy in front.";
  }
  if (/lookup address|invalid .*host|Name or service not known/i.test(detail)) {
    return `${head}: HOST is not a valid address or host name (${detail}). ${hostHint}`;
  }
  return `${head}: ${detail}. Check HOST and PORT.`;
}

const STARTING = () =>
  json({ error: { status: 503, message: "starting" } }, 503, { "retry-after": "1" });

/**
 * Binds the address and starts serving the route table. Errors in a handler become a JSON
 * 500, never a crash.
 *
 * @throws {ListenError} when the address cannot be listened on (in use, not this machine's)
 */
export function startServer(options: ServerOptions): RunningServer {
  let route: (req: Request, remote: string) => Response | Promise<Response> = STARTING;
  if (options.routes) route = createRouter(options.routes);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
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
  } catch (error) {
    // A missing --allow-net stays what it is: main prints it as a permission problem.
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new ListenError(options.hostname, options.port, error);
  }
  const addr = server.addr;
  log.info("listening on http://{host}:{port}", { host: addr.hostname, port: addr.port });
  return {
    addr,
    finished: server.finished,
    setRoutes(routes) {
      route = createRouter(routes);
    },
    shutdown: () => server.shutdown(),
  };
}
