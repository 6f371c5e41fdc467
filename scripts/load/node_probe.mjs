/**
 * The in-bridge probe for the public Twilio sample (Node 20, fastify + ws), loaded before
 * the sample with `node --import`: the same measurement `bridge_probe.ts` makes inside our
 * Deno bridge, so the two bridges are timed the same way in one run.
 *
 * How: it wraps `ws`'s `WebSocket.prototype.emit` and `send` (the sample's Twilio socket
 * and its OpenAI socket are both `ws` sockets; server-side ones are the Twilio side). A
 * `message` is timed when `ws` emits it, before any of the sample's listeners run; a send
 * is timed after `send` returns. Frames are matched by the stamp the load fakes write into
 * each mu-law frame (the first 16 base64 characters of the payload), exactly like
 * `bridge_probe.ts`. Up: Twilio media in -> `input_audio_buffer.append` out. Down: audio
 * delta in -> Twilio media out. Barge-in: `speech_started` in -> `clear` out. Like the Deno
 * probe, the time before the message reaches JavaScript is not in it; unlike Deno, where
 * the runtime parses WebSocket frames in Rust, `ws` parses (and, on the client side, masks)
 * frames in JavaScript: parsing happens before the probe's start, masking and the
 * synchronous socket write inside `send`, before its end.
 *
 * It also serves the same stats endpoint as `server_main.ts` (event-loop lag, the probe's
 * histograms, active calls, heap after GC) on a loopback port it prints on stdout as
 * `{"loadProbe":{"statsPort":P}}`. `LOAD_PROBE=off` keeps the endpoint but not the probe.
 * Load-harness only; it changes nothing the sample does.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { Histogram } from "./histogram.mjs";

// The sample's own copy of ws (the process runs in the sample's folder).
const require = createRequire(path.join(process.cwd(), "index.js"));
const WebSocket = require("ws");

const STAMP_CHARS = 16;
const STAMP_WITH_TIME_CHARS = 28;
const STAMP_PREFIX = "TERT";
const TRIP_SAMPLE_EVERY = 8;
const FORGET_AFTER_MS = 2000;
const MAGIC = 0x4c445354;

const up = new Histogram();
const down = new Histogram();
const bargeIn = new Histogram();
const toBridgeUp = new Histogram();
const toBridgeDown = new Histogram();
const upArrivals = new Map();
const downArrivals = new Map();
const modelOf = new WeakMap();
const speechStartedAt = new WeakMap();
const twilioSockets = new Set();
let arrivalsSeen = 0;
let lastSweep = 0;

const wallClockMs = () => performance.timeOrigin + performance.now();

/** Where the payload after `field` starts in a message (string or Buffer), or -1. */
function payloadStart(data, field) {
  const at = data.indexOf(field);
  if (at < 0) return -1;
  const start = at + field.length;
  return data.length >= start + STAMP_WITH_TIME_CHARS ? start : -1;
}

const text = (data, from, to) =>
  typeof data === "string" ? data.slice(from, to) : data.toString("latin1", from, to);

/** Records an arriving stamped frame (see `noteArrival` in `bridge_probe.ts`). */
function noteArrival(data, field, socket, arrivals, trip) {
  const start = payloadStart(data, field);
  if (start < 0) return false;
  if (text(data, start, start + 4) !== STAMP_PREFIX) return true;
  arrivals.set(text(data, start, start + STAMP_CHARS), { at: performance.now(), socket });
  if (++arrivalsSeen % TRIP_SAMPLE_EVERY !== 0) return true;
  const stamp = Buffer.from(text(data, start, start + STAMP_WITH_TIME_CHARS), "base64");
  if (stamp.length >= 20 && stamp.readUInt32BE(0) === MAGIC) {
    trip.add(wallClockMs() - stamp.readDoubleBE(12));
  }
  return true;
}

function sweep(now) {
  if (now - lastSweep < FORGET_AFTER_MS) return;
  lastSweep = now;
  for (const arrivals of [upArrivals, downArrivals]) {
    for (const [key, arrival] of arrivals) {
      if (now - arrival.at > FORGET_AFTER_MS) arrivals.delete(key);
    }
  }
}

function onMessage(socket, data) {
  if (socket._isServer) {
    twilioSockets.add(socket);
    noteArrival(data, '"payload":"', socket, upArrivals, toBridgeUp);
    return;
  }
  const now = performance.now();
  if (!noteArrival(data, '"delta":"', socket, downArrivals, toBridgeDown)) {
    if (data.indexOf('"input_audio_buffer.speech_started"') >= 0) speechStartedAt.set(socket, now);
  }
  sweep(now);
}

function afterSend(socket, message, now) {
  if (socket._isServer) {
    const start = payloadStart(message, '"payload":"');
    if (start >= 0) {
      const key = message.slice(start, start + STAMP_CHARS);
      const arrival = downArrivals.get(key);
      if (!arrival) return;
      downArrivals.delete(key);
      down.add(now - arrival.at);
      modelOf.set(socket, arrival.socket);
    } else if (message.includes('"event":"clear"')) {
      const model = modelOf.get(socket);
      const at = model && speechStartedAt.get(model);
      if (model && at !== undefined) {
        speechStartedAt.delete(model);
        bargeIn.add(now - at);
      }
    }
    return;
  }
  const start = payloadStart(message, '"audio":"');
  if (start < 0) return;
  const key = message.slice(start, start + STAMP_CHARS);
  const arrival = upArrivals.get(key);
  if (!arrival) return;
  upArrivals.delete(key);
  up.add(now - arrival.at);
}

if (process.env.LOAD_PROBE !== "off") {
  const proto = WebSocket.prototype;
  const emit = proto.emit;
  proto.emit = function (event, ...args) {
    if (event === "message" && args[1] === false) onMessage(this, args[0]);
    else if (event === "close") twilioSockets.delete(this);
    return emit.call(this, event, ...args);
  };
  const send = proto.send;
  proto.send = function (data, ...rest) {
    const result = send.call(this, data, ...rest);
    if (typeof data === "string") afterSend(this, data, performance.now());
    return result;
  };
} else {
  // Without the probe, still count the calls (server-side sockets open).
  const proto = WebSocket.prototype;
  const emit = proto.emit;
  proto.emit = function (event, ...args) {
    if (event === "message" && this._isServer) twilioSockets.add(this);
    else if (event === "close") twilioSockets.delete(this);
    return emit.call(this, event, ...args);
  };
}

// Event-loop lag: drift of a 10 ms timer (as `LoopLag` in `stats.ts`).
const lag = new Histogram();
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  lag.add(Math.max(0, now - last - 10));
  last = now;
}, 10).unref();

const stats = http.createServer((req, res) => {
  const params = new URL(req.url ?? "/", "http://x").searchParams;
  if (params.has("gc") && typeof globalThis.gc === "function") globalThis.gc();
  const body = {
    heapUsedMiB: process.memoryUsage().heapUsed / 2 ** 20,
    heapTotalMiB: process.memoryUsage().heapTotal / 2 ** 20,
    externalMiB: process.memoryUsage().external / 2 ** 20,
    lag: lag.summary(),
    bridge: {
      up: up.summary(),
      down: down.summary(),
      bargeIn: bargeIn.summary(),
      toBridgeUp: toBridgeUp.summary(),
      toBridgeDown: toBridgeDown.summary(),
    },
    activeCalls: twilioSockets.size,
  };
  if (params.has("reset")) {
    for (const h of [lag, up, down, bargeIn, toBridgeUp, toBridgeDown]) h.clear();
  }
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(body));
});
stats.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ loadProbe: { statsPort: stats.address().port } }) + "\n");
});
stats.unref();

// Exit normally on SIGTERM (the harness's stop), so `--cpu-prof` can write its profile;
// and when the harness closes our stdin (it died or is done), so no sample is left behind.
process.once("SIGTERM", () => process.exit(0));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
process.stdin.unref?.();
