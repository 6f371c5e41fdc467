/** Hot-path costs: building input_audio_buffer.append and parsing output audio deltas. */
import { appendAudio, parseServerEvent, ServerEventSchema } from "../../src/realtime/protocol.ts";

const frame = new Uint8Array(160).fill(0x7f).toBase64(); // 20 ms of mu-law
const delta = JSON.stringify({
  type: "response.output_audio.delta",
  event_id: "event_abc",
  response_id: "resp_abc",
  item_id: "item_abc",
  output_index: 0,
  content_index: 0,
  delta: new Uint8Array(800).fill(0x7f).toBase64(), // 100 ms
});

Deno.bench("appendAudio (concatenation)", { group: "append", baseline: true }, () => {
  appendAudio(frame);
});
Deno.bench("append via JSON.stringify", { group: "append" }, () => {
  JSON.stringify({ type: "input_audio_buffer.append", audio: frame });
});
Deno.bench("parseServerEvent (delta scanner)", { group: "delta", baseline: true }, () => {
  parseServerEvent(delta);
});
Deno.bench("JSON.parse + field checks of a delta (the path before the scanner)", {
  group: "delta",
}, () => {
  const e = JSON.parse(delta);
  if (typeof e.delta !== "string" || typeof e.item_id !== "string") throw new Error("bad");
});
Deno.bench("JSON.parse + full zod parse of a delta", { group: "delta" }, () => {
  ServerEventSchema.parse(JSON.parse(delta));
});
