/**
 * Hot-path cost of one 20 ms media frame: the stream's hand check vs. a full zod parse,
 * and outbound framing by concatenation vs. JSON.stringify.
 */
import { type StreamSocket, TwilioStream } from "../../src/twilio/media_stream.ts";
import { buildMediaMessage, MediaMessageSchema } from "../../src/twilio/protocol.ts";
import { startMessage } from "../../src/sim/twilio_caller.ts";

const SID = "MZ" + "0123456789abcdef".repeat(2);
const payload = new Uint8Array(160).map((_, i) => i).toBase64();
const frames = Array.from({ length: 1000 }, (_, i) =>
  JSON.stringify({
    event: "media",
    sequenceNumber: String(i + 2),
    streamSid: SID,
    media: { track: "inbound", chunk: String(i + 1), timestamp: String(i * 20), payload },
  }));

const noop = () => {};
const socket: StreamSocket = {
  readyState: 1,
  binaryType: "arraybuffer",
  send: noop,
  close: noop,
  onmessage: null,
  onclose: null,
  onerror: null,
};
const stream = new TwilioStream(socket);
let sink = 0;
stream.on("start", () =>
  stream.attach({
    media: (bytes) => sink += bytes.length,
    mark() {},
    dtmf() {},
    stop() {},
    close() {},
  }));
socket.onmessage?.(
  new MessageEvent("message", {
    data: JSON.stringify(startMessage({
      accountSid: "AC" + "0".repeat(32),
      streamSid: SID,
      callSid: "CA" + "0".repeat(32),
      customParameters: {},
    })),
  }),
);
const events = frames.map((data) => new MessageEvent("message", { data }));
let n = 0;

Deno.bench("inbound media frame: TwilioStream (JSON.parse + hand check + fromBase64)", {
  group: "inbound",
  baseline: true,
}, () => {
  // Timestamps restart every 1000 frames; late frames are still delivered (no gap fill).
  socket.onmessage?.(events[n++ % 1000]);
});

Deno.bench("inbound media frame: JSON.parse + zod MediaMessageSchema + fromBase64", {
  group: "inbound",
}, () => {
  const m = MediaMessageSchema.parse(JSON.parse(frames[n++ % 1000]));
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
