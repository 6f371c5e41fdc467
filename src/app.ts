/**
 * The composition root: builds every part of the service from a {@linkcode Config}
 * and serves the route table. `main.ts` calls {@linkcode startApp}; tests do too, with
 * port 0.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { redactConfig } from "./config.ts";
import { logger } from "./log.ts";
import { healthRoutes, type RunningServer, startServer } from "./server.ts";
import { VERSION } from "./version.ts";

const log = logger("app");

/** A running service. */
export interface App {
  server: RunningServer;
  /** Base URL the server listens on, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Stops the service (graceful shutdown). */
  stop(): Promise<void>;
}

/** Starts the service described by `config`. */
export function startApp(config: Config): Promise<App> {
  const startedAt = Date.now();
  let draining = false;
  log.info("starting voice-agent {version}", { version: VERSION, config: redactConfig(config) });
  const routes = [
    ...healthRoutes({ version: VERSION, startedAt }, () =>
      Promise.resolve({
        ready: !draining,
        checks: { draining: draining ? "yes" : "no" },
      })),
  ];
  const server = startServer({ hostname: config.host, port: config.port, routes });
  const host = server.addr.hostname === "0.0.0.0" ? "127.0.0.1" : server.addr.hostname;
  return Promise.resolve({
    server,
    baseUrl: `http://${host}:${server.addr.port}`,
    async stop() {
      draining = true;
      await server.shutdown();
    },
  });
}
