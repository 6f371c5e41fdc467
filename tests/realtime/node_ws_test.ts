/**
 * The model socket on npm `ws` (`src/realtime/node_ws.ts`): a whole session through the
 * fake over loopback (Authorization header, session.update, a turn, a clean close), the
 * `WebSocket` behaviour the connection relies on (text and binary messages, close codes,
 * failures as error-then-close, no throw once detached), and `TCP_NODELAY` on its socket
 * (seen with `strace`, the way the built-in client was found to turn it off).
 */
import assert from "node:assert/strict";
import { startFakeRealtime } from "../../scripts/sim/fake_realtime.ts";
import { RealtimeConnection } from "../../src/realtime/connection.ts";
import { detach } from "../../src/realtime/handshake.ts";
import { nodeWsWebSocket, webSocketFactoryFor } from "../../src/realtime/node_ws.ts";
import { buildSessionConfig } from "../../src/realtime/session_config.ts";
import type { ServerEvent } from "../../src/realtime/protocol.ts";
import { turnFrames } from "./helpers.ts";

const sessionConfig = buildSessionConfig({
  model: "gpt-realtime-2.1",
  voice: "marin",
  audioFormat: "pcmu",
  instructions: "You are the receptionist.",
  tools: [],
  vad: { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
});

/** A loopback WebSocket server that echoes, and answers "close:CODE:REASON" by closing. */
function echoServer() {
  const auth: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    auth.push(req.headers.get("authorization"));
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => {
      const m = typeof e.data === "string" ? /^close:(\d+):(.*)$/.exec(e.data) : null;
      if (m) socket.close(Number(m[1]), m[2]);
      else socket.send(e.data);
    };
    return response;
  });
  return { url: `ws://127.0.0.1:${server.addr.port}/`, auth, close: () => server.shutdown() };
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onclose = (c) => reject(new Error(`closed ${c.code}`));
  });
}

function nextMessage(ws: WebSocket): Promise<MessageEvent> {
  return new Promise((resolve) => (ws.onmessage = resolve));
}

function closed(ws: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) => (ws.onclose = resolve));
}

Deno.test("ws socket: a session through the fake: Authorization, session.update, a turn, clean close", async () => {
  const fake = await startFakeRealtime({
    transcripts: ["Do you have time on Friday?"],
    responder: () => ({ audioMs: 300, transcript: "Yes, at ten." }),
  });
  const conn = new RealtimeConnection({
    url: fake.url,
    model: "gpt-realtime-2.1",
    apiKey: "test-key",
    sessionConfig,
    webSocketFactory: nodeWsWebSocket,
    backoff: { initialMs: 20, maxMs: 200, maxAttempts: 2, maxTotalMs: 2000 },
  });
  const events: ServerEvent[] = [];
  conn.on("event", (e) => events.push(e));
  try {
    await conn.connect();
    assert.equal(conn.state, "open");
    const s = fake.sessions[0];
    assert.equal(s.headers.get("authorization"), "Bearer test-key");
    // No compression offered (the built-in client offers none either).
    assert.equal(s.headers.get("sec-websocket-extensions"), null);
    assert.deepEqual(s.clientEvents[0], { type: "session.update", session: sessionConfig });
    for (const f of turnFrames("pcmu", 600)) conn.appendAudio(f);
    await fake.waitFor(() => events.some((e) => e.type === "response.done"), 3000, "response");
    assert.ok(events.some((e) => e.type === "response.output_audio.delta"));
    assert.ok(s.inputMs >= 600);
    assert.equal(s.errors.length, 0);
  } finally {
    conn.close();
    await fake.waitFor(() => fake.sessions.every((x) => x.closed), 2000, "sessions closed");
    await fake.close();
  }
  assert.equal(fake.sessions[0].closeCode, 1000);
});

Deno.test("ws socket: text and binary messages, header, close code and reason both ways", async () => {
  const server = echoServer();
  const ws = nodeWsWebSocket(server.url, { Authorization: "Bearer k" });
  try {
    assert.equal(ws.readyState, WebSocket.CONNECTING);
    assert.throws(() => ws.send("too early"), /not open/);
    await opened(ws);
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.deepEqual(server.auth, ["Bearer k"]);

    const texts = ["", "é€😀 payload", "x".repeat(70_000)];
    for (const t of texts) {
      const reply = nextMessage(ws);
      ws.send(t);
      assert.equal((await reply).data, t);
    }
    const reply = nextMessage(ws);
    ws.send(new Uint8Array([1, 2, 250]));
    const data = (await reply).data;
    assert.ok(data instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(data)], [1, 2, 250]);

    // The server closes: the code and reason reach onclose (a fatal code rides in a reason).
    const end = closed(ws);
    ws.send("close:4001:invalid_request_error.invalid_api_key");
    const c = await end;
    assert.equal(c.code, 4001);
    assert.equal(c.reason, "invalid_request_error.invalid_api_key");
    assert.equal(c.wasClean, true);
    assert.equal(ws.readyState, WebSocket.CLOSED);
  } finally {
    await server.close();
  }

  // The client closes.
  const again = echoServer();
  const ws2 = nodeWsWebSocket(again.url, {});
  await opened(ws2);
  const end2 = closed(ws2);
  ws2.close(1000, "done");
  assert.equal(ws2.readyState, WebSocket.CLOSING);
  const c2 = await end2;
  assert.equal(c2.code, 1000);
  assert.equal(c2.reason, "done");
  assert.equal(c2.wasClean, true);
  await again.close();
});

Deno.test("ws socket: a refused connection is an error then a close (1006)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const ws = nodeWsWebSocket(`ws://127.0.0.1:${port}/`, {});
  const seen: string[] = [];
  ws.onerror = () => seen.push("error");
  const c = await new Promise<CloseEvent>((r) => (ws.onclose = r));
  seen.push("close");
  assert.deepEqual(seen, ["error", "close"]);
  assert.equal(c.code, 1006);
  assert.equal(c.wasClean, false);
  assert.equal(ws.readyState, WebSocket.CLOSED);
});

Deno.test("ws socket: an HTTP refusal (401) is an error then a close, as the handshake expects", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("invalid_api_key", { status: 401 }),
  );
  const ws = nodeWsWebSocket(`ws://127.0.0.1:${server.addr.port}/`, {});
  let errors = 0;
  ws.onerror = () => errors++;
  const c = await new Promise<CloseEvent>((r) => (ws.onclose = r));
  assert.equal(errors, 1);
  assert.equal(c.code, 1006);
  await server.shutdown();
});

Deno.test("ws socket: closed while connecting, or detached: no throw, nothing left open", async () => {
  const server = echoServer();
  // Closed at once (ws may still be loading): error then close, never opens.
  const early = nodeWsWebSocket(server.url, {});
  let opens = 0;
  early.onopen = () => opens++;
  const seen: string[] = [];
  early.onerror = () => seen.push("error");
  const done = new Promise<CloseEvent>((r) => (early.onclose = r));
  early.close(1000, "done");
  const c = await done;
  assert.deepEqual(seen, ["error"]);
  assert.equal(c.code, 1006);
  assert.equal(early.readyState, WebSocket.CLOSED);

  // Closed during the HTTP handshake with every handler removed (the handshake's failure
  // path: detach, then close): the error `ws` emits must not escape as an exception.
  const detached = nodeWsWebSocket(server.url, {});
  await new Promise((r) => setTimeout(r, 0));
  detach(detached);
  detached.close(1000, "done");
  // Time for the error and close to be emitted (they come on the next ticks).
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(detached.readyState, WebSocket.CLOSED);
  assert.equal(opens, 0);
  await server.close();
});

Deno.test("ws socket: webSocketFactoryFor picks the configured client", () => {
  assert.equal(webSocketFactoryFor("ws"), nodeWsWebSocket);
  assert.notEqual(webSocketFactoryFor("builtin"), nodeWsWebSocket);
});

/** Whether `strace` can trace here (missing, or ptrace not allowed). */
async function canStrace(): Promise<boolean> {
  try {
    return (await new Deno.Command("strace", {
      args: ["-f", "-e", "trace=none", "true"],
      stdout: "null",
      stderr: "null",
    }).output()).success;
  } catch {
    return false;
  }
}

/** The last `TCP_NODELAY` value set on the client socket that connected to the probe's server. */
async function clientNoDelay(client: "ws" | "builtin"): Promise<number | undefined> {
  const trace = await Deno.makeTempFile({ suffix: ".strace" });
  try {
    const probe = new URL("./nodelay_probe_main.ts", import.meta.url).pathname;
    const out = await new Deno.Command("strace", {
      args: [
        "-f",
        "-e",
        "trace=connect,setsockopt",
        "-o",
        trace,
        Deno.execPath(),
        "run",
        "-A",
        probe,
        client,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const { port } = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    const lines = (await Deno.readTextFile(trace)).split("\n");
    // The descriptor that connected to the server's port, then its TCP_NODELAY calls.
    const connectLine = lines.findIndex((l) =>
      /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\((\d+)\)/.exec(l)?.[1] === String(port)
    );
    assert.ok(connectLine >= 0, `no connect to port ${port} in the trace`);
    const fd = /connect\((\d+),/.exec(lines[connectLine])![1];
    let value: number | undefined;
    for (const l of lines.slice(connectLine)) {
      const m = new RegExp(`setsockopt\\(${fd}, SOL_TCP, TCP_NODELAY, \\[(\\d)\\]`).exec(l);
      if (m) value = Number(m[1]);
    }
    return value;
  } finally {
    await Deno.remove(trace);
  }
}

Deno.test("ws socket: TCP_NODELAY is set on the model socket (strace)", async (t) => {
  if (!(await canStrace())) {
    console.warn("SKIPPING the TCP_NODELAY trace: strace is missing or cannot trace here");
    return;
  }
  assert.equal(await clientNoDelay("ws"), 1);
  // What the service moved away from: Deno's client turns it off. Informational, not a
  // requirement (a Deno release that sets it would be welcome).
  await t.step("the built-in client, for comparison", async () => {
    console.log(`built-in WebSocket client TCP_NODELAY: ${await clientNoDelay("builtin")}`);
  });
});
