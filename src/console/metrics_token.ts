/**
 * The optional bearer token of `GET /metrics` (`METRICS_TOKEN`): Prometheus sends it with
 * `authorization: Bearer …` (`bearer_token_file` / `authorization` in its scrape config).
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import { jsonError, type RouteHandler } from "../http.ts";

/**
 * Wraps the metrics handler: without a token configured it is returned unchanged; with one,
 * requests without the right `Authorization: Bearer` header get 401.
 */
export function requireBearer(token: string | undefined, handler: RouteHandler): RouteHandler {
  if (!token) return handler;
  const expected = new TextEncoder().encode(token);
  return (req, ctx) => {
    const header = req.headers.get("authorization") ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const given = new TextEncoder().encode(m?.[1] ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return jsonError(401, "metrics need Authorization: Bearer METRICS_TOKEN", {
        "www-authenticate": 'Bearer realm="metrics"',
      });
    }
    return handler(req, ctx);
  };
}
