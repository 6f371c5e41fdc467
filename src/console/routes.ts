/**
 * The operator console at `/console`: login, the app shell, its browser files, the JSON API
 * and the live-calls stream, all behind one session check.
 *
 * Rules every route follows:
 * - no session, no data: pages redirect to the login form, the API and the stream answer 401,
 *   the browser files answer 401 too (only the login page and its stylesheet are public);
 * - every POST carries the session's CSRF token (`X-CSRF-Token` header, or a `csrf` form
 *   field for the sign-out form); the login form has its own token in a cookie;
 * - reads are POSTs with JSON bodies too, so nothing personal ends up in a URL, and the page's
 *   own location uses `#` routes, which browsers never send;
 * - login attempts are rate-limited per client and overall.
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";
import type { ConsoleConfig } from "../config.ts";
import { BodyTooLargeError, jsonError, readBodyLimited, type Route } from "../http.ts";
import { logger } from "../log.ts";
import type { BookingStore } from "../booking/types.ts";
import { consoleApi } from "./api.ts";
import type { LiveCallFeed, LiveCallView } from "./live.ts";
import { htmlResponse, loginPage, SECURITY_HEADERS, shellPage } from "./pages.ts";
import { PasswordVerifier } from "./password.ts";
import type { BusinessProfileSource } from "./profile_reload.ts";
import { type LoginLimits, LoginRateLimiter } from "./rate_limit.ts";
import {
  cookiePolicyFor,
  loginCookieName,
  readCookie,
  type Session,
  SessionCodec,
  sessionCookieName,
  setCookie,
} from "./session.ts";
import { type ConsoleStaticFile, loadStaticFiles } from "./static_files.ts";

const log = logger("console");

/** Largest JSON body the API reads. */
const MAX_API_BODY = 64 * 1024;
/** Lines of each live transcript sent to the page (the newest). */
const LIVE_TRANSCRIPT_LINES = 80;
/** Seconds between keep-alive comments on the live stream. */
const KEEPALIVE_MS = 15_000;

/** What the console needs. */
export interface ConsoleDeps {
  /** `CONSOLE_*` settings. */
  config: ConsoleConfig;
  /** The public origin (decides the cookies' `Secure`). */
  publicUrl: string;
  store: BookingStore;
  profiles: BusinessProfileSource;
  live: LiveCallFeed;
  /** `REMINDERS`: the calendar shows each booking's reminder unless `off`. */
  reminders?: "call" | "sms" | "off";
  /** Instant clock for the API (tests pin it). */
  now?: () => Temporal.Instant;
  /** Wall clock for sessions and rate limits, ms (tests move it). */
  clockMs?: () => number;
  /** Login limits (tests lower them). */
  loginLimits?: Partial<LoginLimits>;
}

/** A running console. */
export interface Console {
  routes: Route[];
  /** Ends open live streams (before the server shuts down). */
  close(): void;
}

/**
 * Builds the console: checks its files, derives the session key, returns the routes.
 *
 * @example
 * ```ts
 * import type { Route } from "../http.ts";
 * declare const deps: ConsoleDeps; // config.console, publicUrl, store, profiles, live feed
 * declare const otherRoutes: Route[];
 * const adminConsole = await createConsole(deps);
 * const routes = [...otherRoutes, ...adminConsole.routes];
 * ```
 */
export async function createConsole(deps: ConsoleDeps): Promise<Console> {
  const files = await loadStaticFiles();
  const assetVersion = [...files.values()].map((f) => f.etag.slice(1, 5)).join("");
  const verifier = await PasswordVerifier.create(deps.config);
  const clockMs = deps.clockMs ?? Date.now;
  const sessions = new SessionCodec(
    verifier.sessionKey,
    deps.config.sessionHours * 3600_000,
    clockMs,
  );
  const policy = cookiePolicyFor(deps.publicUrl);
  const sessionCookie = sessionCookieName(policy);
  const loginCookie = loginCookieName(policy);
  const limiter = new LoginRateLimiter(deps.loginLimits, clockMs);
  const api = consoleApi({
    store: deps.store,
    profiles: deps.profiles,
    reminders: deps.reminders,
    now: deps.now,
  });
  const streams = new Set<() => void>();
  const business = () => deps.profiles.current.name;

  const sessionOf = (req: Request) => sessions.verify(readCookie(req, sessionCookie));

  const showLogin = (status: number, error?: string, headers: Record<string, string> = {}) => {
    const token = crypto.getRandomValues(new Uint8Array(18)).toBase64({ alphabet: "base64url" });
    return htmlResponse(loginPage({ business: business(), loginToken: token, error }), status, {
      ...headers,
      "set-cookie": setCookie(policy, loginCookie, token, 600),
    });
  };

  const redirect = (location: string, cookies: string[] = []) => {
    const headers = new Headers({ location, "cache-control": "no-store", ...SECURITY_HEADERS });
    for (const c of cookies) headers.append("set-cookie", c);
    return new Response(null, { status: 303, headers });
  };

  const unauthorized = () =>
    jsonError(401, "sign in to the console first", { "cache-control": "no-store" });

  /** Wraps a handler: no valid session, no call. */
  const withSession = (
    onMissing: () => Response,
    handler: (req: Request, session: Session, remoteAddr?: string) => Promise<Response>,
  ): Route["handler"] =>
  async (req, ctx) => {
    const session = await sessionOf(req);
    if (!session) {
      await req.body?.cancel();
      return onMissing();
    }
    return await handler(req, session, ctx.remoteAddr);
  };

  const login: Route["handler"] = async (req, ctx) => {
    let form: URLSearchParams;
    try {
      form = new URLSearchParams(await readBodyLimited(req, 4096));
    } catch (error) {
      if (error instanceof BodyTooLargeError) return showLogin(413, "That request was too large.");
      throw error;
    }
    const sent = form.get("login_csrf") ?? "";
    const expected = readCookie(req, loginCookie) ?? "";
    if (!sameText(sent, expected) || expected === "") {
      log.warn("console: login refused, form token missing or wrong", {
        remoteAddr: ctx.remoteAddr,
      });
      return showLogin(403, "The sign-in form expired. Please try again.");
    }
    const permit = limiter.begin(ctx.remoteAddr ?? "unknown");
    if (!permit.allowed) {
      log.warn("console: login rate limit hit", { remoteAddr: ctx.remoteAddr });
      return showLogin(
        429,
        `Too many attempts. Try again in ${Math.ceil(permit.retryAfterSeconds / 60)} minutes.`,
        { "retry-after": String(permit.retryAfterSeconds) },
      );
    }
    if (!(await verifier.verify(form.get("password") ?? ""))) {
      log.warn("console: failed login", { remoteAddr: ctx.remoteAddr });
      return showLogin(401, "Wrong password.");
    }
    permit.succeeded();
    const { value } = await sessions.issue();
    log.info("console: signed in", { remoteAddr: ctx.remoteAddr });
    return redirect("/console", [
      setCookie(policy, sessionCookie, value, sessions.ttlMs / 1000),
      setCookie(policy, loginCookie, "", 0),
    ]);
  };

  const logout = withSession(
    () => redirect("/console/login"),
    async (req, session) => {
      let token: string | null = req.headers.get("x-csrf-token");
      if (token === null) {
        try {
          token = new URLSearchParams(await readBodyLimited(req, 4096)).get("csrf");
        } catch {
          token = null;
        }
      } else {
        await req.body?.cancel();
      }
      if (!(await sessions.checkCsrf(session, token))) {
        return jsonError(403, "missing or wrong CSRF token");
      }
      sessions.revoke(session);
      return redirect("/console/login", [setCookie(policy, sessionCookie, "", 0)]);
    },
  );

  const shell = withSession(
    () => redirect("/console/login"),
    async (_req, session) =>
      htmlResponse(shellPage({
        business: business(),
        csrfToken: await sessions.csrfToken(session),
        assetVersion,
      })),
  );

  const serveFile = (req: Request, name: string, cache: string) => {
    const file = files.get(name as ConsoleStaticFile);
    if (!file) return jsonError(404, "no such file");
    const headers = {
      "content-type": file.contentType,
      "cache-control": cache,
      etag: file.etag,
      ...SECURITY_HEADERS,
    };
    if (req.headers.get("if-none-match") === file.etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(req.method === "HEAD" ? null : file.body, { headers });
  };

  const apiCall = withSession(unauthorized, async (req, session, remoteAddr) => {
    if (!(await sessions.checkCsrf(session, req.headers.get("x-csrf-token")))) {
      await req.body?.cancel();
      return jsonError(403, "missing or wrong CSRF token");
    }
    const name = new URL(req.url).pathname.slice("/console/api/".length);
    const op = api.get(name);
    if (!op) {
      await req.body?.cancel();
      return jsonError(404, `no console API ${name}`);
    }
    if (!(req.headers.get("content-type") ?? "").startsWith("application/json")) {
      await req.body?.cancel();
      return jsonError(415, "send JSON (content-type: application/json)");
    }
    let body: unknown;
    try {
      const text = await readBodyLimited(req, MAX_API_BODY);
      body = text.trim() === "" ? {} : JSON.parse(text);
    } catch (error) {
      return error instanceof BodyTooLargeError
        ? jsonError(413, error.message)
        : jsonError(400, "the body is not valid JSON");
    }
    const parsed = op.body.safeParse(body);
    if (!parsed.success) {
      const what = parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
      return jsonError(400, what.join("; "));
    }
    const res = await op.run(parsed.data, { remoteAddr });
    res.headers.set("cache-control", "no-store");
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
    return res;
  });

  const liveStream = withSession(unauthorized, (_req, session) => {
    const encoder = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        const send = (text: string) => {
          if (closed) return;
          try {
            controller.enqueue(encoder.encode(text));
          } catch {
            stop();
          }
        };
        const sendCalls = (calls: LiveCallView[]) =>
          send(`event: calls\ndata: ${JSON.stringify(trimLive(calls))}\n\n`);
        const unsubscribe = deps.live.subscribe(sendCalls);
        const keepAlive = setInterval(() => {
          // The stream ends with the session: a signed-out or expired page stops receiving.
          if (clockMs() >= session.expiresAt) stop();
          else send(": keep-alive\n\n");
        }, KEEPALIVE_MS);
        stop = () => {
          if (closed) return;
          closed = true;
          unsubscribe();
          clearInterval(keepAlive);
          streams.delete(stop);
          try {
            controller.close();
          } catch { /* already closed by the client */ }
        };
        streams.add(stop);
        send("retry: 2000\n\n");
        sendCalls(deps.live.list());
      },
      cancel() {
        stop();
      },
    });
    return Promise.resolve(
      new Response(body, {
        headers: {
          "content-type": "text/event-stream; charset=utf-8",
          "cache-control": "no-store",
          "x-accel-buffering": "no", // nginx: deliver events as they come
          ...SECURITY_HEADERS,
        },
      }),
    );
  });

  const routes: Route[] = [
    { method: "GET", path: "/console", handler: shell },
    { method: "GET", path: "/console/", handler: shell },
    {
      method: "GET",
      path: "/console/login",
      handler: async (req) => (await sessionOf(req)) ? redirect("/console") : showLogin(200),
    },
    { method: "POST", path: "/console/login", handler: login },
    { method: "POST", path: "/console/logout", handler: logout },
    {
      method: "GET",
      path: "/console/login.css",
      handler: (req) => serveFile(req, "login.css", "public, max-age=3600"),
    },
    {
      method: "GET",
      path: "/console/static/:file(.+)",
      handler: withSession(
        unauthorized,
        (req, _s) =>
          Promise.resolve(
            serveFile(req, new URL(req.url).pathname.slice("/console/static/".length), "no-cache"),
          ),
      ),
    },
    { method: "GET", path: "/console/api/live", handler: liveStream },
    { method: "POST", path: "/console/api/:name(.+)", handler: apiCall },
  ];

  return {
    routes,
    close() {
      for (const stop of [...streams]) stop();
    },
  };
}

/** Keeps the newest lines of each live transcript. */
function trimLive(calls: LiveCallView[]): LiveCallView[] {
  return calls.map((c) =>
    c.transcript.length > LIVE_TRANSCRIPT_LINES
      ? { ...c, transcript: c.transcript.slice(-LIVE_TRANSCRIPT_LINES) }
      : c
  );
}

/** Constant-time comparison of two short strings. */
function sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
