/**
 * The agent's audio on its way out: whole frames of pass-through audio go to Twilio as the
 * base64 they came in, anything else through the frame aligner, and whoever needs the
 * bytes (the recording) still gets them.
 */
import assert from "node:assert/strict";
import { AgentAudio } from "../../src/call/agent_audio.ts";
import { PassThroughAudioPath, TranscodingAudioPath } from "../../src/call/audio_path.ts";
import type { CallerStream } from "../../src/call/ports.ts";
import type { AgentAudioTap } from "../../src/call/call_tap.ts";

/** Records what is sent, as it is sent. */
function stream() {
  const sent: { kind: "bytes" | "base64" | "mark"; value: string }[] = [];
  const s: CallerStream = {
    closed: false,
    counters: {},
    attach() {},
    sendAudio: (mulaw) => (sent.push({ kind: "bytes", value: mulaw.toBase64() }), true),
    sendAudioBase64: (b64) => (sent.push({ kind: "base64", value: b64 }), true),
    mark: (name) => (sent.push({ kind: "mark", value: name }), true),
    clear: () => true,
    close() {},
  };
  return { s, sent };
}

function tap() {
  const heard: Uint8Array[] = [];
  const t: AgentAudioTap = {
    agentAudio: (mulaw) => heard.push(mulaw.slice()),
    agentCleared() {},
  };
  return { t, heard };
}

const frames = (n: number, seed: number) =>
  new Uint8Array(160 * n).map((_, i) => (i * 31 + seed) & 255);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
};

Deno.test("agent audio: whole frames of pcmu pass through as the same base64; the tap gets the bytes", () => {
  const { s, sent } = stream();
  const { t, heard } = tap();
  let sentFrames = 0;
  const audio = new AgentAudio({
    stream: s,
    audio: new PassThroughAudioPath(),
    now: () => 0,
    markIntervalMs: 100,
    onSent: (n) => sentFrames += n,
    tap: t,
  });
  const deltas = [frames(1, 1), frames(1, 2), frames(3, 3), frames(1, 4), frames(1, 5)];
  for (const d of deltas) assert.equal(audio.delta("r1", "i1", d.toBase64()), "sent");
  assert.deepEqual(
    sent.filter((m) => m.kind !== "mark"),
    deltas.map((d) => ({ kind: "base64", value: d.toBase64() })),
  );
  assert.deepEqual(sent.filter((m) => m.kind === "mark").map((m) => m.value), ["a1"]);
  assert.equal(sentFrames, 7);
  assert.deepEqual(concat(heard), concat(deltas));
  assert.ok(audio.spoke("r1"));
});

Deno.test("agent audio: a delta off the frame grid goes through the aligner, and so does what follows it", () => {
  const { s, sent } = stream();
  const { t, heard } = tap();
  const audio = new AgentAudio({
    stream: s,
    audio: new PassThroughAudioPath(),
    now: () => 0,
    markIntervalMs: 1000,
    onSent() {},
    tap: t,
  });
  const all = frames(6, 9);
  const cuts = [0, 100, 420, 580, 740, 960];
  for (let k = 1; k < cuts.length; k++) {
    audio.delta("r1", "i1", all.subarray(cuts[k - 1], cuts[k]).toBase64());
  }
  audio.flush();
  const media = sent.filter((m) => m.kind !== "mark");
  // 100 bytes: held; 320 more: 2 frames out, 100 carried; 160: 1 frame, 100 carried; ...
  assert.ok(media.every((m) => m.kind === "bytes"), JSON.stringify(media.map((m) => m.kind)));
  const out = concat(media.map((m) => Uint8Array.fromBase64(m.value)));
  assert.equal(out.length % 160, 0);
  assert.deepEqual(out.subarray(0, all.length), all);
  assert.deepEqual(concat(heard), out);
  // Once nothing is carried, whole frames pass through again.
  audio.delta("r1", "i1", frames(1, 1).toBase64());
  assert.deepEqual(sent.at(-1), { kind: "base64", value: frames(1, 1).toBase64() });
});

Deno.test("agent audio: loose or broken base64 never passes through", () => {
  const { s, sent } = stream();
  const audio = new AgentAudio({
    stream: s,
    audio: new PassThroughAudioPath(),
    now: () => 0,
    markIntervalMs: 1000,
    onSent() {},
  });
  const frame = frames(1, 3);
  const unpadded = frame.toBase64().replace(/=+$/, "");
  assert.equal(audio.delta("r1", "i1", unpadded), "sent");
  assert.deepEqual(sent.at(-1), { kind: "bytes", value: frame.toBase64() });
  assert.equal(audio.delta("r1", "i1", '"}],' + frame.toBase64().slice(4)), "undecodable");
  assert.equal(sent.length, 1);
});

Deno.test("agent audio: pcm16 is transcoded, never passed through", () => {
  const { s, sent } = stream();
  const audio = new AgentAudio({
    stream: s,
    audio: new TranscodingAudioPath(),
    now: () => 0,
    markIntervalMs: 1000,
    onSent() {},
  });
  // 20 ms of 24 kHz PCM16 is 960 bytes: a multiple of 160 that must not go out as mu-law.
  for (let k = 0; k < 5; k++) audio.delta("r1", "i1", new Uint8Array(960).toBase64());
  assert.ok(sent.length > 0);
  assert.ok(sent.every((m) => m.kind !== "base64"));
});
