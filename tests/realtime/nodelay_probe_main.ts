/**
 * Run under `strace` by `node_ws_test.ts`: opens one model socket with the factory named
 * in `Deno.args[0]` (`ws` or `builtin`) to a loopback server, exchanges a message, closes,
 * and prints the server's port so the trace's `connect` can be matched.
 */
import { type WebSocketClient, webSocketFactoryFor } from "../../src/realtime/node_ws.ts";

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
  const { socket, response } = Deno.upgradeWebSocket(req);
  socket.onmessage = (e) => socket.send(e.data);
  return response;
});
const ws = webSocketFactoryFor(Deno.args[0] as WebSocketClient)(
  `ws://127.0.0.1:${server.addr.port}/`,
  { Authorization: "Bearer probe" },
);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onclose = (c) => reject(new Error(`closed ${c.code} ${c.reason}`));
});
ws.send("ping");
await new Promise((r) => (ws.onmessage = r));
ws.close(1000, "done");
await new Promise((r) => (ws.onclose = r));
await server.shutdown();
console.log(JSON.stringify({ port: server.addr.port }));
