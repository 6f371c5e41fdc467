import assert from "node:assert/strict";
import { BodyTooLargeError, createRouter, json, readBodyLimited } from "../src/http.ts";
import { healthRoutes, startServer } from "../src/server.ts";

const routes = [
  { method: "GET" as const, path: "/hello", handler: () => json({ hi: true }) },
  {
    method: "POST" as const,
    path: "/echo/:name",
    handler: async (req: Request, ctx: { params: Record<string, string | undefined> }) =>
      json({ name: ctx.params.name, body: await readBodyLimited(req, 16) }),
  },
  {
    method: "GET" as const,
    path: "/boom",
    handler: (): Response => {
      throw new Error("kaboom");
    },
  },
];

Deno.test("router: matches path and method, with named params", async () => {
  const route = createRouter(routes);
  const ok = await route(new Request("http://x/hello"));
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { hi: true });
  const echo = await route(new Request("http://x/echo/ann", { method: "POST", body: "hey" }));
  assert.deepEqual(await echo.json(), { name: "ann", body: "hey" });
});

Deno.test("router: unknown path is a JSON 404", async () => {
  const res = await createRouter(routes)(new Request("http://x/nope"));
  assert.equal(res.status, 404);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  assert.deepEqual(await res.json(), { error: { status: 404, message: "no route for /nope" } });
});

Deno.test("router: wrong method is a JSON 405 with Allow", async () => {
  const res = await createRouter(routes)(new Request("http://x/hello", { method: "POST" }));
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET");
  assert.equal((await res.json()).error.status, 405);
});

Deno.test("router: a declared body over the global limit is a JSON 413", async () => {
  const res = await createRouter(routes, 8)(
    new Request("http://x/echo/ann", {
      method: "POST",
      body: "0123456789",
      headers: { "content-length": "10" },
    }),
  );
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.status, 413);
});

Deno.test("readBodyLimited: declared and streamed bodies over the limit are refused", async () => {
  await assert.rejects(
    readBodyLimited(
      new Request("http://x/", {
        method: "POST",
        body: "x".repeat(100),
        headers: { "content-length": "100" },
      }),
      10,
    ),
    BodyTooLargeError,
  );
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(8));
      c.enqueue(new Uint8Array(8));
      c.close();
    },
  });
  await assert.rejects(
    readBodyLimited(new Request("http://x/", { method: "POST", body: stream }), 10),
    BodyTooLargeError,
  );
  assert.equal(
    await readBodyLimited(new Request("http://x/", { method: "POST", body: "héllo" }), 10),
    "héllo",
  );
});

Deno.test("server: serves health, readiness, 404, and turns handler errors into 500", async () => {
  let ready = true;
  const server = startServer({
    hostname: "127.0.0.1",
    port: 0,
    routes: [
      ...healthRoutes(
        { version: "9.9.9", startedAt: Date.now() },
        () => Promise.resolve({ ready, checks: { database: ready ? "ok" : "down" } }),
      ),
      ...routes,
    ],
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    const body = await health.json();
    assert.equal(body.status, "ok");
    assert.equal(body.version, "9.9.9");
    assert.equal(typeof body.uptimeSeconds, "number");

    const readyRes = await fetch(`${base}/readyz`);
    assert.equal(readyRes.status, 200);
    assert.deepEqual(await readyRes.json(), { status: "ready", checks: { database: "ok" } });
    ready = false;
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    await notReady.body?.cancel();

    const missing = await fetch(`${base}/missing`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();

    const boom = await fetch(`${base}/boom`);
    assert.equal(boom.status, 500);
    assert.deepEqual(await boom.json(), { error: { status: 500, message: "internal error" } });
  } finally {
    await server.shutdown();
  }
});
