/**
 * The JavaScript cost of relaying one frame each way, sockets aside: a Twilio media message
 * into a real TwilioStream and on to the model's append message, and a 20 ms pcmu delta from
 * the model parsed and sent to Twilio by AgentAudio, with the marks and their echoes. What
 * is left out is Deno's WebSocket work (see BENCHMARKS.md, "Where our CPU goes").
 *
 * `RELAY_BENCH_BEFORE_SRC=/path/to/other/checkout/src` adds the same path at another commit
 * to the group, for a before/after in one run (`git worktree add /tmp/before <commit>`):
 *
 * ```sh
 * RELAY_BENCH_BEFORE_SRC=/tmp/before/src deno bench -A tests/call/relay_bench.ts
 * ```
 */
import { startFrame } from "../support/stream_socket.ts";

const SID = "MZ" + "0123456789abcdef".repeat(2);
const FRAMES = 20_000;
const payload = (i: number) => new Uint8Array(160).map((_, k) => (k * 7 + i) & 255).toBase64();
const media = Array.from({ length: FRAMES }, (_, i) =>
  new MessageEvent("message", {
    data: JSON.stringify({
      event: "media",
      sequenceNumber: String(i + 2),
      media: {
        track: "inbound",
        chunk: String(i + 1),
        timestamp: String(i * 20),
        payload: payload(i),
      },
      streamSid: SID,
    }),
  }));
const deltas = Array.from({ length: FRAMES }, (_, i) =>
  JSON.stringify({
    type: "response.output_audio.delta",
    event_id: `event_${i}`,
    response_id: "resp_1",
    item_id: "item_1",
    output_index: 0,
    content_index: 0,
    delta: payload(i + 1),
  }));

/** The modules of one checkout's `src/`. */
async function modules(src: string) {
  return {
    stream: await import(new URL("twilio/media_stream.ts", src).href),
    agentAudio: await import(new URL("call/agent_audio.ts", src).href),
    audioPath: await import(new URL("call/audio_path.ts", src).href),
    playout: await import(new URL("call/playout.ts", src).href),
    protocol: await import(new URL("realtime/protocol.ts", src).href),
  };
}
type Modules = Awaited<ReturnType<typeof modules>>;

/** A started stream on a socket that echoes marks, feeding an AgentAudio; one frame each way per call. */
function relay(m: Modules): () => void {
  let sink = 0;
  const echoes: string[] = [];
  const socket = {
    readyState: 1,
    binaryType: "arraybuffer",
    onmessage: null as null | ((e: MessageEvent) => void),
    onclose: null,
    onerror: null,
    send(data: string) {
      sink += data.length;
      if (data.startsWith('{"event":"mark"')) {
        const name = JSON.parse(data).mark.name;
        echoes.push(
          JSON.stringify({ event: "mark", sequenceNumber: "1", streamSid: SID, mark: { name } }),
        );
      }
    },
    close() {},
  };
  const stream = new m.stream.TwilioStream(socket, {
    maxAheadMs: Number.MAX_SAFE_INTEGER,
    rateLimit: { perSecond: 1e12, burst: 1e12 },
    mediaTimeoutMs: 0,
  });
  const path = new m.audioPath.PassThroughAudioPath();
  // deno-lint-ignore prefer-const
  let audio: { delta(r: string, i: string, d: string): unknown; markEchoed(n: string): void };
  stream.on("start", () =>
    stream.attach({
      // As the call does: pass-through base64 as it came (older checkouts hand over bytes).
      media: (frame: string | Uint8Array) => {
        const b64 = typeof frame === "string" ? frame : path.toModel(frame);
        sink += m.protocol.appendAudio(b64, "a1").length;
      },
      mark: (name: string) => audio.markEchoed(name),
      dtmf() {},
      stop() {},
      close() {},
    }));
  audio = new m.agentAudio.AgentAudio({
    stream,
    audio: path,
    now: () => performance.now(),
    markIntervalMs: m.playout.MARK_INTERVAL_MS,
    onSent() {},
  });
  socket.onmessage!(new MessageEvent("message", { data: startFrame(SID) }));
  let n = 0;
  return () => {
    const i = n++ % FRAMES;
    socket.onmessage!(media[i]);
    const parsed = m.protocol.parseServerEvent(deltas[i]);
    if (parsed.ok && parsed.event.type === "response.output_audio.delta") {
      audio.delta(parsed.event.response_id, parsed.event.item_id, parsed.event.delta);
    }
    while (echoes.length > 0) {
      socket.onmessage!(new MessageEvent("message", { data: echoes.shift()! }));
    }
    if (sink < 0) throw new Error("unreachable");
  };
}

/** A relay that starts over (a new stream) every FRAMES frames, so timestamps stay in order. */
function bench(m: Modules): () => void {
  let step = relay(m);
  let n = 0;
  return () => {
    if (++n % FRAMES === 0) step = relay(m);
    step();
  };
}

const here = await modules(new URL("../../src/", import.meta.url).href);
Deno.bench(
  "relay one frame each way (this checkout)",
  { group: "relay", baseline: true },
  bench(here),
);

const beforeSrc = Deno.env.get("RELAY_BENCH_BEFORE_SRC");
if (beforeSrc) {
  const dir = beforeSrc.endsWith("/") ? beforeSrc : `${beforeSrc}/`;
  const before = await modules(new URL(dir, `file://${Deno.cwd()}/`).href);
  Deno.bench(`relay one frame each way (${beforeSrc})`, { group: "relay" }, bench(before));
}
