/**
 * Console security: nothing without a session (every route in the table, every API
 * operation), forged and expired cookies refused, CSRF required on every POST, login rate
 * limited, cookie attributes, response headers, the password hash, and METRICS_TOKEN.
 */
import assert from "node:assert/strict";
import { consoleApi } from "../../src/console/api.ts";
import { CONSOLE_STATIC_FILES } from "../../src/console/static_files.ts";
import { hashPassword, PasswordVerifier } from "../../src/console/password.ts";
import { SessionCodec } from "../../src/console/session.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { CONSOLE_PASSWORD, cookieFrom, loginForm, postLogin, signIn } from "./client.ts";
import { startConsoleServer } from "./server.ts";
import { startHarness } from "../support/harness.ts";

/** Every concrete request the console's route table serves. */
function everyRequest(routes: { method: string; path: string }[]): [string, string][] {
  const apiNames = [
    ...consoleApi({ store: undefined!, profiles: undefined! }).keys(),
  ];
  assert.ok(apiNames.length >= 10, apiNames.join());
  return routes.flatMap((r): [string, string][] => {
    if (r.path.includes(":file")) {
      return CONSOLE_STATIC_FILES.map((f) => [r.method, r.path.replace(/:file\(.+\)$/, f)]);
    }
    if (r.path.includes(":name")) {
      return apiNames.map((n) => [r.method, r.path.replace(/:name\(.+\)$/, n)]);
    }
    return [[r.method, r.path]];
  });
}

const PUBLIC = new Set(["GET /console/login", "POST /console/login", "GET /console/login.css"]);

Deno.test("console: without a session every route and API operation is refused", async () => {
  const c = await startConsoleServer();
  try {
    // Data that must never leak: a booking and a call record.
    const booked = await c.store.book({
      serviceId: "mens-cut",
      start: Temporal.Now.zonedDateTimeISO("America/New_York").add({ days: 3 }).toPlainDate()
        .toString() + "T10:00",
      customerName: "Secret Person",
      customerPhone: "+12125550199",
    });
    const requests = everyRequest(c.console.routes);
    assert.ok(requests.length >= 20, `${requests.length} requests`);
    const forged =
      "va_console=v1.9999999999.AAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for (const cookie of [undefined, forged, `__Host-${forged}`]) {
      for (const [method, path] of requests) {
        const key = `${method} ${path}`;
        if (PUBLIC.has(key)) continue;
        const res = await fetch(`${c.base}${path}`, {
          method,
          redirect: "manual",
          headers: {
            ...(cookie ? { cookie } : {}),
            "content-type": "application/json",
          },
          body: method === "POST" ? "{}" : undefined,
        });
        const body = await res.text();
        assert.ok(
          res.status === 401 ||
            (res.status === 303 && res.headers.get("location") === "/console/login"),
          `${key} (cookie ${cookie ? "forged" : "none"}) answered ${res.status}`,
        );
        assert.doesNotMatch(body, /Secret Person|2125550199/, key);
        if (booked.ok) assert.ok(!body.includes(booked.booking.id), key);
      }
    }
    // The public ones give no data either.
    const login = await fetch(`${c.base}/console/login`);
    assert.doesNotMatch(await login.text(), /Secret Person/);
  } finally {
    await c.close();
  }
});

Deno.test("console: forged, tampered and expired session cookies are refused", async () => {
  const c = await startConsoleServer({ sessionHours: 1 });
  try {
    const client = await signIn(c.base);
    assert.equal((await client.api("profile")).status, 200);
    const [name, value] = client.cookie.split("=");
    const [v, exp, nonce, mac] = value.split(".");
    const tries = {
      "later expiry, same MAC": `${v}.${Number(exp) + 3600}.${nonce}.${mac}`,
      "other nonce": `${v}.${exp}.${nonce.slice(0, -2)}AA.${mac}`,
      "flipped MAC": `${v}.${exp}.${nonce}.${mac.slice(0, -2)}AA`,
      "garbage": "hello",
    };
    for (const [what, forged] of Object.entries(tries)) {
      const res = await fetch(`${c.base}/console/api/profile`, {
        method: "POST",
        headers: {
          cookie: `${name}=${forged}`,
          "x-csrf-token": client.csrf,
          "content-type": "application/json",
        },
        body: "{}",
      });
      await res.body?.cancel();
      assert.equal(res.status, 401, what);
    }
    // A cookie signed with another password's key.
    const other = await PasswordVerifier.create({ password: "another password entirely" });
    const alien = await new SessionCodec(other.sessionKey, 3600_000).issue();
    const res = await fetch(`${c.base}/console`, {
      headers: { cookie: `${name}=${alien.value}` },
      redirect: "manual",
    });
    await res.body?.cancel();
    assert.equal(res.status, 303);
    // A correctly signed cookie that has expired.
    const mine = await PasswordVerifier.create({ password: CONSOLE_PASSWORD });
    const old = await new SessionCodec(mine.sessionKey, 3600_000, () => Date.now() - 7200_000)
      .issue();
    const expired = await fetch(`${c.base}/console/api/live`, {
      headers: { cookie: `${name}=${old.value}` },
    });
    await expired.body?.cancel();
    assert.equal(expired.status, 401);
    // The real session expires after CONSOLE_SESSION_HOURS.
    c.clock.ms += 3600_000 + 1000;
    assert.equal((await client.api("profile")).status, 401);
  } finally {
    await c.close();
  }
});

Deno.test("console: every POST needs the session's CSRF token", async () => {
  const c = await startConsoleServer();
  try {
    const a = await signIn(c.base);
    const b = await signIn(c.base);
    assert.notEqual(a.csrf, b.csrf, "tokens are per session");
    for (const name of consoleApi({ store: undefined!, profiles: undefined! }).keys()) {
      // The last character of the 32-byte MAC carries 4 bits and 2 unused ones: flipping the
      // lowest gives a token that decodes to the same bytes but is not the one issued (and
      // without this the decoder's leniency let it through, about one run in twenty).
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const tampered = a.csrf.slice(0, -1) + alphabet[alphabet.indexOf(a.csrf.at(-1)!) ^ 1];
      for (const token of [undefined, "", b.csrf, tampered]) {
        const res = await fetch(`${c.base}/console/api/${name}`, {
          method: "POST",
          headers: {
            cookie: a.cookie,
            "content-type": "application/json",
            ...(token === undefined ? {} : { "x-csrf-token": token }),
          },
          body: "{}",
        });
        await res.body?.cancel();
        assert.equal(res.status, 403, `${name} with token ${JSON.stringify(token)}`);
      }
    }
    // A cross-site form post cannot send JSON: refused even with the right token.
    const form = await fetch(`${c.base}/console/api/profile`, {
      method: "POST",
      headers: {
        cookie: a.cookie,
        "x-csrf-token": a.csrf,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "a=1",
    });
    await form.body?.cancel();
    assert.equal(form.status, 415);
    // Sign-out without the token keeps the session.
    const out = await fetch(`${c.base}/console/logout`, {
      method: "POST",
      headers: { cookie: a.cookie, "content-type": "application/x-www-form-urlencoded" },
      body: "csrf=wrong",
      redirect: "manual",
    });
    await out.body?.cancel();
    assert.equal(out.status, 403);
    assert.equal((await a.api("profile")).status, 200);
    // With it, the session ends.
    const ok = await fetch(`${c.base}/console/logout`, {
      method: "POST",
      headers: { cookie: a.cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: a.csrf }),
      redirect: "manual",
    });
    await ok.body?.cancel();
    assert.equal(ok.status, 303);
    assert.match(ok.headers.getSetCookie().join("\n"), /va_console=; .*Max-Age=0/);
    assert.equal((await a.api("profile")).status, 401);
    assert.equal((await b.api("profile")).status, 200, "other sessions stay");
    // The login form needs its own token (login CSRF).
    const { cookie } = await loginForm(c.base);
    const noToken = await fetch(`${c.base}/console/login`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ password: CONSOLE_PASSWORD }),
      redirect: "manual",
    });
    await noToken.body?.cancel();
    assert.equal(noToken.status, 403);
    assert.equal(cookieFrom(noToken, "va_console"), undefined);
  } finally {
    await c.close();
  }
});

Deno.test("console: login attempts are rate-limited; cookies are HttpOnly, Secure, SameSite=Strict, expiring", async () => {
  const c = await startConsoleServer({ loginLimits: { perClient: 3, windowMs: 60_000 } });
  try {
    const res = await postLogin(c.base, CONSOLE_PASSWORD);
    await res.body?.cancel();
    const set = res.headers.getSetCookie().find((s) => s.startsWith("__Host-va_console="))!;
    assert.ok(set, res.headers.getSetCookie().join("\n"));
    assert.match(set, /; Path=\//);
    assert.match(set, /; Max-Age=43200/);
    assert.match(set, /; HttpOnly/);
    assert.match(set, /; SameSite=Strict/);
    assert.match(set, /; Secure/);
    assert.equal(res.headers.get("location"), "/console");

    for (let i = 0; i < 3; i++) {
      const wrong = await postLogin(c.base, "not the password");
      assert.match(await wrong.text(), /Wrong password/);
      assert.equal(wrong.status, 401);
    }
    // Now even the right password is refused until the window passes.
    const limited = await postLogin(c.base, CONSOLE_PASSWORD);
    assert.equal(limited.status, 429);
    assert.match(await limited.text(), /Too many attempts/);
    assert.ok(Number(limited.headers.get("retry-after")) > 0);
    assert.equal(cookieFrom(limited, "va_console"), undefined);
    c.clock.ms += 61_000;
    const again = await postLogin(c.base, CONSOLE_PASSWORD);
    await again.body?.cancel();
    assert.equal(again.status, 303);

    // Pages and API answers carry the protective headers.
    const client = await signIn(c.base);
    const shell = await fetch(`${c.base}/console`, { headers: { cookie: client.cookie } });
    await shell.body?.cancel();
    assert.match(shell.headers.get("content-security-policy")!, /script-src 'self'/);
    assert.equal(shell.headers.get("referrer-policy"), "no-referrer");
    assert.equal(shell.headers.get("cache-control"), "no-store");
  } finally {
    await c.close();
  }
  // A loopback http PUBLIC_URL (local development) gets no Secure flag and no __Host- name.
  const local = await startConsoleServer({ publicUrl: "http://127.0.0.1:8080" });
  try {
    const res = await postLogin(local.base, CONSOLE_PASSWORD);
    await res.body?.cancel();
    const set = res.headers.getSetCookie().find((s) => s.startsWith("va_console="))!;
    assert.ok(set);
    assert.doesNotMatch(set, /Secure/);
    assert.match(set, /HttpOnly; SameSite=Strict/);
  } finally {
    await local.close();
  }
});

Deno.test("console: CONSOLE_PASSWORD_HASH from `console-password` works; bad values are config errors", async () => {
  const hash = await hashPassword("a long enough password");
  assert.match(hash, /^scrypt:16384:8:1:[\w-]{22}:[\w-]{43}$/);
  const c = await startConsoleServer({ passwordHash: hash });
  try {
    await (await signIn(c.base, "a long enough password")).api("profile");
    const wrong = await postLogin(c.base, CONSOLE_PASSWORD);
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401);
  } finally {
    await c.close();
  }
  const base = { PUBLIC_URL: "https://x.example.com", OPENAI_API_KEY: "k", TWILIO_AUTH_TOKEN: "t" };
  assert.equal(loadConfig(base).console, undefined, "off unless a password is set");
  assert.deepEqual(loadConfig({ ...base, CONSOLE_PASSWORD: "twelve chars" }).console, {
    password: "twelve chars",
    passwordHash: undefined,
    sessionHours: 12,
  });
  for (
    const bad of [
      { CONSOLE_PASSWORD: "short" },
      { CONSOLE_PASSWORD_HASH: "md5:abc" },
      { CONSOLE_PASSWORD: "twelve chars", CONSOLE_PASSWORD_HASH: hash },
      { CONSOLE_PASSWORD: "twelve chars", CONSOLE_SESSION_HOURS: "0" },
      { METRICS_TOKEN: "short" },
    ]
  ) {
    assert.throws(() => loadConfig({ ...base, ...bad }), ConfigError, JSON.stringify(bad));
  }
  // The command line prints the hash line.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      new URL("../../main.ts", import.meta.url).pathname,
      "console-password",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode("a long enough password\n"));
  await writer.close();
  const result = await out.output();
  const line = new TextDecoder().decode(result.stdout).trim();
  assert.match(line, /^CONSOLE_PASSWORD_HASH=scrypt:16384:8:1:/);
  const verifier = await PasswordVerifier.create({ passwordHash: line.split("=")[1] });
  assert.ok(await verifier.verify("a long enough password"));
  assert.ok(!(await verifier.verify("a long enough passworD")));
});

Deno.test("console: off without a password; METRICS_TOKEN guards /metrics", async () => {
  await using h = await startHarness({ env: { METRICS_TOKEN: "metrics-token-0123456789" } });
  const off = await fetch(`${h.app.baseUrl}/console`);
  await off.body?.cancel();
  assert.equal(off.status, 404);
  const none = await fetch(`${h.app.baseUrl}/metrics`);
  await none.body?.cancel();
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate")!, /^Bearer/);
  const wrong = await fetch(`${h.app.baseUrl}/metrics`, {
    headers: { authorization: "Bearer metrics-token-0123456780" },
  });
  await wrong.body?.cancel();
  assert.equal(wrong.status, 401);
  const ok = await fetch(`${h.app.baseUrl}/metrics`, {
    headers: { authorization: "Bearer metrics-token-0123456789" },
  });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /voice_active_calls/);
  await using open = await startHarness();
  const res = await fetch(`${open.app.baseUrl}/metrics`);
  await res.body?.cancel();
  assert.equal(res.status, 200, "no token configured: open as before");
});
