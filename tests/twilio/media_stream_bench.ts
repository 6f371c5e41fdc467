/**
 * Hot-path cost of one 20 ms media frame: the stream (scanner, hand check, base64 counted
 * not decoded) vs. what it replaced (JSON.parse + hand check + decode) and a full zod parse,
 * and outbound framing by concatenation vs. JSON.stringify.
 */
import { type StreamSocket, TwilioStream } from "../../src/twilio/media_stream.ts";
import { buildMediaMessage, MediaMessageSchema } from "../../src/twilio/protocol.ts";
import { startFrame } from "../support/stream_socket.ts";

const FRAMES = 100_000;
const SID = "MZ" + "0123456789abcdef".repeat(2);
const payload = new Uint8Array(160).map((_, i) => i).toBase64();
const frames = Array.from({ length: FRAMES }, (_, i) =>
  JSON.stringify({
    event: "media",
    sequenceNumber: String(i + 2),
    streamSid: SID,
    media: { track: "inbound", chunk: String(i + 1), timestamp: String(i * 20), payload },
  }));

const noop = () => {};
let sink = 0;

/**
 * A started stream whose bounds do not apply: the bench delivers frames far faster than
 * real time, which a live stream rightly refuses (see stream_bounds_test.ts).
 */
function startedStream(): { socket: StreamSocket; stream: TwilioStream } {
  const socket: StreamSocket = {
    readyState: 1,
    binaryType: "arraybuffer",
    send: noop,
    close: noop,
    onmessage: null,
    onclose: null,
    onerror: null,
  };
  const stream = new TwilioStream(socket, {
    maxAheadMs: Number.MAX_SAFE_INTEGER,
    rateLimit: { perSecond: 1e12, burst: 1e12 },
    mediaTimeoutMs: 0,
  });
  stream.on("start", () =>
    stream.attach({
      media: (mulawBase64) => sink += mulawBase64.length,
      mark() {},
      dtmf() {},
      stop() {},
      close() {},
    }));
  socket.onmessage?.(new MessageEvent("message", { data: startFrame(SID) }));
  return { socket, stream };
}
const events = frames.map((data) => new MessageEvent("message", { data }));
let n = 0;
let { socket } = startedStream();
const { stream } = startedStream(); // for the outbound benches

Deno.bench("inbound media frame: TwilioStream (scan + hand check, base64 passed on)", {
  group: "inbound",
  baseline: true,
}, () => {
  // Timestamps only go forward: a fresh stream every FRAMES frames (its start is negligible).
  if (n % FRAMES === 0 && n > 0) socket = startedStream().socket;
  socket.onmessage?.(events[n++ % FRAMES]);
});

Deno.bench("inbound media frame: JSON.parse + field checks + fromBase64 (the path before)", {
  group: "inbound",
}, () => {
  const m = JSON.parse(frames[n++ % FRAMES]);
  if (m.event === "media" && m.streamSid === SID && typeof m.media?.payload === "string") {
    sink += Uint8Array.fromBase64(m.media.payload).length;
  }
});

Deno.bench("inbound media frame: JSON.parse + zod MediaMessageSchema + fromBase64", {
  group: "inbound",
}, () => {
  const m = MediaMessageSchema.parse(JSON.parse(frames[n++ % FRAMES]));
  sink += Uint8Array.fromBase64(m.media.payload).length;
});

const outPayload = new Uint8Array(960).toBase64(); // 120 ms chunk as a Realtime delta might be

Deno.bench("outbound media: string concatenation", { group: "outbound", baseline: true }, () => {
  sink += buildMediaMessage(SID, outPayload).length;
});

Deno.bench("outbound media: JSON.stringify", { group: "outbound" }, () => {
  sink += JSON.stringify({ event: "media", streamSid: SID, media: { payload: outPayload } }).length;
});

Deno.bench("outbound media: TwilioStream.sendAudio (toBase64 + concat) 160 bytes", {
  group: "outbound",
}, () => {
  stream.sendAudio(new Uint8Array(160));
});

globalThis.addEventListener("unload", () => {
  if (sink < 0) console.log(sink);
});
