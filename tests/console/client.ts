/**
 * A console client for API tests: signs in through the login form exactly like a browser
 * (form token cookie, password, session cookie, CSRF token from the shell page) and calls
 * the JSON API.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Password the console tests configure. */
export const CONSOLE_PASSWORD = "correct horse battery staple";

/** The `name=value` of a `Set-Cookie` header whose name ends with `suffix`. */
export function cookieFrom(res: Response, suffix: string): string | undefined {
  for (const c of res.headers.getSetCookie()) {
    const pair = c.split(";")[0];
    if (pair.split("=")[0].endsWith(suffix)) return pair;
  }
  return undefined;
}

/** Fetches the login form: its cookie and the token the form carries. */
export async function loginForm(base: string): Promise<{ cookie: string; token: string }> {
  const res = await fetch(`${base}/console/login`);
  const html = await res.text();
  assert.equal(res.status, 200, html);
  const token = /name="login_csrf" value="([^"]+)"/.exec(html)?.[1];
  const cookie = cookieFrom(res, "va_login");
  assert.ok(token && cookie, "the login form sets its token");
  return { cookie, token };
}

/** Posts the login form; returns the raw response. */
export async function postLogin(base: string, password: string): Promise<Response> {
  const { cookie, token } = await loginForm(base);
  return await fetch(`${base}/console/login`, {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ password, login_csrf: token }),
    redirect: "manual",
  });
}

/** A signed-in console session. */
export interface ConsoleClient {
  /** `name=value` of the session cookie. */
  cookie: string;
  csrf: string;
  /** POST /console/api/NAME with a JSON body; `status` and parsed body. */
  // deno-lint-ignore no-explicit-any
  api(name: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/** Signs in and reads the CSRF token from the app shell. */
export async function signIn(base: string, password = CONSOLE_PASSWORD): Promise<ConsoleClient> {
  const res = await postLogin(base, password);
  await res.body?.cancel();
  assert.equal(res.status, 303, "signed in");
  const cookie = cookieFrom(res, "va_console");
  assert.ok(cookie, "session cookie set");
  const shell = await fetch(`${base}/console`, { headers: { cookie } });
  const html = await shell.text();
  assert.equal(shell.status, 200, html);
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(html)?.[1];
  assert.ok(csrf, "the shell carries the CSRF token");
  return {
    cookie,
    csrf,
    async api(name, body = {}) {
      const r = await fetch(`${base}/console/api/${name}`, {
        method: "POST",
        headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : undefined };
    },
  };
}
