import assert from "node:assert/strict";
import { NoDelayWebSocket } from "../../scripts/load/nodelay_websocket.ts";

/** A loopback echo server on Deno's own WebSocket (the other end the harness talks to). */
function echoServer(): { url: string; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => {
      // "big:N" asks for an N-character message (many reads on the client's side).
      if (typeof e.data === "string" && e.data.startsWith("big:")) {
        socket.send("x".repeat(Number(e.data.slice(4))));
      } else socket.send(e.data);
    };
    return response;
  });
  return { url: `ws://127.0.0.1:${server.addr.port}/`, close: () => server.shutdown() };
}

Deno.test("NoDelayWebSocket: text of every header size and UTF-8 round-trips; big and bursty messages arrive whole and in order", async () => {
  const server = echoServer();
  const ws = new NoDelayWebSocket(server.url);
  const received: unknown[] = [];
  let waiting: (() => void) | undefined;
  ws.onmessage = (e) => {
    received.push(e.data);
    waiting?.();
  };
  const closed = new Promise<CloseEvent>((r) => (ws.onclose = r));
  await new Promise((r) => (ws.onopen = r));
  const until = async (n: number) => {
    while (received.length < n) await new Promise<void>((r) => (waiting = r));
  };

  // Lengths around the 7-bit, 16-bit and 64-bit length encodings, and multi-byte UTF-8
  // (the encoded length differs from the string length).
  const texts = [
    "",
    "a",
    "x".repeat(125),
    "x".repeat(126),
    "é€😀 payload",
    "é".repeat(70), // 140 bytes in 70 characters
    "y".repeat(65535),
    "z".repeat(65536),
    "w".repeat(200_000),
  ];
  for (const t of texts) ws.send(t);
  await until(texts.length);
  assert.deepEqual(received.map((r) => (r as string).length), texts.map((t) => t.length));
  assert.deepEqual(received, texts);

  // A message far bigger than the read buffer, from the server.
  received.length = 0;
  ws.send("big:1000000");
  await until(1);
  assert.equal((received[0] as string).length, 1_000_000);

  // A burst: 2000 small messages queued at once come back complete and in order.
  received.length = 0;
  for (let i = 0; i < 2000; i++) ws.send(`m${i}`);
  await until(2000);
  assert.deepEqual(received, Array.from({ length: 2000 }, (_, i) => `m${i}`));

  // Binary still works.
  received.length = 0;
  ws.send(new Uint8Array([1, 2, 3, 250]));
  await until(1);
  assert.deepEqual(Array.from(new Uint8Array(received[0] as unknown as ArrayBuffer)), [
    1,
    2,
    3,
    250,
  ]);

  ws.close(1000, "done");
  const event = await closed;
  assert.equal(event.code, 1000);
  assert.equal(event.wasClean, true);
  await server.close();
});
