/**
 * A small route table for `Deno.serve`, plus helpers every handler needs:
 * JSON responses, JSON 404/405, and request bodies read under a size limit.
 *
 * @module
 */

/** Per-request details handed to every route handler. */
export interface RequestContext {
  /** Named groups matched by the route's pattern. */
  params: Record<string, string | undefined>;
  /** Remote address as seen by the server (the proxy's, behind a reverse proxy). */
  remoteAddr?: string;
}

/** A handler for one route. */
export type RouteHandler = (req: Request, ctx: RequestContext) => Response | Promise<Response>;

/** One entry of the route table. */
export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE" | "PATCH";
  /** A pathname pattern in URLPattern syntax, e.g. `/twilio/voice` or `/calls/:sid`. */
  path: string;
  handler: RouteHandler;
}

/** Serializes `body` as a JSON response. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** A JSON error body `{ error: { status, message } }`. */
export function jsonError(status: number, message: string, headers: HeadersInit = {}): Response {
  return json({ error: { status, message } }, status, headers);
}

/** Thrown by {@linkcode readBodyLimited} when a body exceeds the limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Reads a request body as text, refusing more than `limit` bytes. The declared
 * Content-Length is checked first; chunked bodies are counted while streaming.
 */
export async function readBodyLimited(req: Request, limit: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (declared > limit) {
    await req.body?.cancel();
    throw new BodyTooLargeError(limit);
  }
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > limit) throw new BodyTooLargeError(limit);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

interface CompiledRoute extends Route {
  pattern: URLPattern;
}

/** Largest request body any route accepts (routes that read bodies may set less). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Builds a request handler from a route table. Unknown paths get a JSON 404; a known
 * path with the wrong method gets a JSON 405 with an `Allow` header; a declared body over
 * `maxBodyBytes` gets a JSON 413 before any handler runs.
 */
export function createRouter(
  routes: Route[],
  maxBodyBytes = MAX_BODY_BYTES,
): (req: Request, remoteAddr?: string) => Promise<Response> {
  const compiled: CompiledRoute[] = routes.map((r) => ({
    ...r,
    pattern: new URLPattern({ pathname: r.path }),
  }));
  return async (req, remoteAddr) => {
    const pathname = new URL(req.url).pathname;
    if (Number(req.headers.get("content-length") ?? 0) > maxBodyBytes) {
      await req.body?.cancel();
      return jsonError(413, `request body over ${maxBodyBytes} bytes`);
    }
    const allowed: string[] = [];
    for (const route of compiled) {
      const match = route.pattern.exec({ pathname });
      if (!match) continue;
      const methodMatches = route.method === req.method ||
        (route.method === "GET" && req.method === "HEAD");
      if (!methodMatches) {
        allowed.push(route.method);
        continue;
      }
      return await route.handler(req, { params: match.pathname.groups, remoteAddr });
    }
    if (allowed.length > 0) {
      await req.body?.cancel();
      return jsonError(405, `method ${req.method} not allowed on ${pathname}`, {
        allow: allowed.join(", "),
      });
    }
    await req.body?.cancel();
    return jsonError(404, `no route for ${pathname}`);
  };
}
