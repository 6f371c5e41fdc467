/**
 * A lean fake OpenAI Realtime server (GA protocol) for load runs: hundreds of sessions in
 * one process, driven by one {@linkcode Ticker} instead of timers per session. Several
 * processes can serve one port (`reusePort`: the kernel spreads the bridge's connections
 * over them); each numbers its sessions from its own `sessionBase`.
 *
 * Per session it follows the published event flow: `session.created`, `session.updated`
 * after `session.update`; `response.create` starts a response (created, output item,
 * content part, audio deltas, done events, `response.done`); server-VAD events come on
 * cue from a script: after the greeting the caller "talks" (`speech_started` /
 * `speech_stopped` / `committed` / user item / transcript) and is answered with streamed
 * audio; every second answer is interrupted mid-stream (`speech_started`, the response is
 * cancelled) and the bridge's `conversation.item.truncate` is checked against the audio
 * sent for the item. Audio: 20 ms deltas; each response first sends a short lead
 * (`prebufferMs`, like the real service, which streams faster than real time) and then one
 * delta per 20 ms. Anything outside the protocol gets an `error` event and counts as a
 * violation. A bridge that does not ask for a greeting (the public Twilio sample) gets
 * the caller speaking first (`callerSpeaksFirst`).
 *
 * Each session writes down when each delta left and when each caller frame arrived
 * ({@linkcode SessionRecord}); which call it serves it learns from the caller number in
 * its instructions or from the stamps of the caller's audio.
 *
 * @module
 */
import {
  callIndexIn,
  FRAME_MS,
  readStamp,
  StampedFrames,
  type Ticker,
  type Ticking,
  type Violations,
  wallClockMs,
} from "./probe.ts";
import { Float64List } from "./stats.ts";
import type { SessionRecord } from "./timeline.ts";

/** Timing of the scripted conversation, ms. */
export interface Scenario {
  /** Length of the greeting. */
  greetingMs: number;
  /** Pause between the end of an answer and the caller starting to talk. */
  pauseMs: number;
  /** How long the caller talks per turn. */
  speechMs: number;
  /** Length of each answer. */
  answerMs: number;
  /** Position in an interrupted answer where the caller barges in. */
  bargeAtMs: number;
  /** Audio sent at once at the start of each response. */
  prebufferMs: number;
  /**
   * The caller talks first (a pause after `session.update`), for bridges that do not ask
   * for a greeting, like the public Twilio sample. Default false: the bridge's
   * `response.create` plays the greeting and the caller talks after it.
   */
  callerSpeaksFirst: boolean;
}

/** Defaults: a turn every ~5 s, a barge-in every second turn. */
export const DEFAULT_SCENARIO: Scenario = {
  greetingMs: 1000,
  pauseMs: 600,
  speechMs: 1000,
  answerMs: 3000,
  bargeAtMs: 1200,
  prebufferMs: 200,
  callerSpeaksFirst: false,
};

/** Options of {@linkcode startFakeModel}. */
export interface FakeModelOptions {
  /** Where this process counts protocol violations. */
  violations: Violations;
  ticker: Ticker;
  apiKey: string;
  scenario?: Partial<Scenario>;
  port?: number;
  /** Address to listen on (default loopback; `netdelay.py`'s far address for a distant model). */
  hostname?: string;
  /** Share the port with other processes (SO_REUSEPORT). */
  reusePort?: boolean;
  /** First session index of this process (indices must be unique across processes). */
  sessionBase?: number;
}

/** A running fake model. */
export interface FakeModel {
  /** `ws://HOST:PORT/v1/realtime` */
  url: string;
  /** Sessions opened so far. */
  readonly sessionsOpened: number;
  /** Sessions that know their call. */
  readonly sessionsBound: number;
  /** What every session (open or closed) recorded. */
  records(): SessionRecord[];
  /** Stops new audio and scripted events (end of the measurement). */
  quiesce(): void;
  close(): Promise<void>;
}

/** Starts the fake model on loopback. */
export async function startFakeModel(options: FakeModelOptions): Promise<FakeModel> {
  const scenario = { ...DEFAULT_SCENARIO, ...options.scenario };
  const sessions = new Set<ModelSession>();
  const all: ModelSession[] = [];
  let quiet = false;
  const server = Deno.serve({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    reusePort: options.reusePort ?? false,
    onListen: () => {},
  }, (req) => {
    if (req.headers.get("authorization") !== `Bearer ${options.apiKey}`) {
      return new Response("invalid_api_key", { status: 401 });
    }
    if (req.headers.get("openai-beta")) return new Response("beta shape", { status: 400 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    const session = new ModelSession(
      socket,
      (options.sessionBase ?? 0) + all.length,
      options.violations,
      scenario,
      () => quiet,
    );
    all.push(session);
    sessions.add(session);
    options.ticker.add(session);
    socket.onclose = () => {
      sessions.delete(session);
      options.ticker.delete(session);
    };
    return response;
  });
  await new Promise((r) => setTimeout(r, 0));
  const port = (server.addr as Deno.NetAddr).port;
  return {
    url: `ws://${options.hostname ?? "127.0.0.1"}:${port}/v1/realtime`,
    get sessionsOpened() {
      return all.length;
    },
    get sessionsBound() {
      return all.filter((s) => s.callIdx >= 0).length;
    },
    records: () => all.map((s) => s.record()),
    quiesce() {
      quiet = true;
    },
    async close() {
      for (const s of sessions) s.close();
      await server.shutdown();
    },
  };
}

type Phase =
  | { kind: "idle" }
  | { kind: "pause"; until: number }
  | { kind: "talking"; until: number; itemId: string };

interface ActiveResponse {
  id: string;
  itemId: string;
  startedAt: number;
  frames: number;
  sentFrames: number;
  /** Frame index at which the caller barges in (-1: never). */
  bargeAtFrame: number;
  /** Whether the response was started by the script (it drives the next turn). */
  scripted: boolean;
  /** `response.metadata` of the `response.create` it answers (echoed, as the server does). */
  metadata: Record<string, string> | null;
}

/** The start of an `input_audio_buffer.append` event with nothing but its audio. */
const APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"';

let ids = 0;
const nextId = (prefix: string) => `${prefix}_${(++ids).toString(36).padStart(8, "0")}`;

/** 20 ms of a 24 kHz PCM16 tone, base64 (the pcm16 deltas carry no stamp). */
const PCM16_FRAME_B64 = (() => {
  const pcm = new Int16Array(480);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(6000 * Math.sin((i * 2 * Math.PI) / 60));
  return new Uint8Array(pcm.buffer).toBase64();
})();

/** One Realtime session. */
class ModelSession implements Ticking {
  readonly #ws: WebSocket;
  readonly #violations: Violations;
  readonly #s: Scenario;
  readonly #quiet: () => boolean;
  /** Session index (in the stamps of its audio). */
  readonly idx: number;
  /** The call this session serves (-1 until known). */
  callIdx = -1;
  readonly #downSent = new Float64List();
  readonly #firstOfResponse: number[] = [];
  readonly #bargeSent = new Float64List();
  /** Caller audio arrival: by caller seq (pcmu), by order (pcm16). */
  readonly #upArrived = new Float64List();
  #upFrames = 0;
  #upLastSeq = -1;
  readonly #sessionId = nextId("sess");
  #format: "pcmu" | "pcm16" | undefined;
  #inputBytes = 0;
  #phase: Phase = { kind: "idle" };
  #response: ActiveResponse | undefined;
  #turn = 0;
  #lastItemId: string | null = null;
  /** Audio ms sent per assistant item (truncate may not exceed it). */
  readonly #itemMs = new Map<string, number>();
  readonly #frames = new StampedFrames(0x7f);

  constructor(
    ws: WebSocket,
    idx: number,
    violations: Violations,
    scenario: Scenario,
    quiet: () => boolean,
  ) {
    this.#ws = ws;
    this.idx = idx;
    this.#violations = violations;
    this.#s = scenario;
    this.#quiet = quiet;
    ws.onopen = () =>
      this.#send({
        type: "session.created",
        event_id: nextId("event"),
        session: {
          type: "realtime",
          object: "realtime.session",
          id: this.#sessionId,
          model: "gpt-realtime",
          expires_at: Math.floor(Date.now() / 1000) + 3600,
        },
      });
    ws.onmessage = (ev) => this.#onMessage(ev.data);
  }

  close(): void {
    try {
      this.#ws.close(1000, "fake model closing");
    } catch { /* already closed */ }
  }

  /** `conversation.item.added` for a new item, which becomes the last one. */
  #itemAdded(itemId: string, item: Record<string, unknown>): void {
    this.#send({
      type: "conversation.item.added",
      event_id: nextId("event"),
      previous_item_id: this.#lastItemId,
      item,
    });
    this.#lastItemId = itemId;
  }

  #send(event: unknown): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(event));
  }

  #error(code: string, message: string, param?: string, eventId?: string): void {
    this.#violations.add(`model: ${code}: ${message}`);
    this.#send({
      type: "error",
      event_id: nextId("event"),
      error: {
        type: "invalid_request_error",
        code,
        message,
        param: param ?? null,
        event_id: eventId ?? null,
      },
    });
  }

  #onMessage(data: unknown): void {
    if (typeof data !== "string") return this.#error("invalid_type", "binary frame");
    // Fast path: exactly the append every bridge writes (base64 cannot hide a quote).
    if (data.startsWith(APPEND_HEAD) && data.endsWith('"}')) {
      this.#violations.receivedOne("model:input_audio_buffer.append");
      return this.#onAppend(data.slice(APPEND_HEAD.length, -2));
    }
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(data);
    } catch {
      return this.#error("invalid_json", "not JSON");
    }
    this.#violations.receivedOne(`model:${String(e.type).slice(0, 40)}`);
    switch (e.type) {
      case "input_audio_buffer.append":
        return this.#onAppend(e.audio);
      case "session.update":
        return this.#onSessionUpdate(e.session as Record<string, unknown> | undefined);
      case "response.create":
        // Out of band (`conversation: "none"`, the after-call summary): no audio, and it may
        // run beside the conversation's own response, as on the real server.
        if ((e.response as { conversation?: unknown } | undefined)?.conversation === "none") {
          return this.#answerOutOfBand(requestMetadata(e.response));
        }
        if (this.#response) {
          return this.#error(
            "conversation_already_has_active_response",
            "Conversation already has an active response",
            undefined,
            typeof e.event_id === "string" ? e.event_id : undefined,
          );
        }
        return this.#startResponse(false, -1, requestMetadata(e.response));
      case "response.cancel":
        if (this.#response) this.#endResponse("cancelled");
        return;
      case "conversation.item.create":
        return this.#onItemCreate(e.item as Record<string, unknown> | undefined);
      case "conversation.item.truncate":
        return this.#onTruncate(e);
      default:
        return this.#error("unknown_event", `unexpected client event ${String(e.type)}`);
    }
  }

  /** Answers an out-of-band text request at once (created, then done with its text). */
  #answerOutOfBand(metadata: Record<string, string> | null): void {
    const id = nextId("resp");
    const base = { id, object: "realtime.response", conversation_id: null, metadata };
    this.#send({
      type: "response.created",
      event_id: nextId("event"),
      response: { ...base, status: "in_progress", output: [] },
    });
    const item = {
      id: nextId("item"),
      object: "realtime.item",
      type: "message",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text: OUT_OF_BAND_TEXT }],
    };
    this.#send({
      type: "response.done",
      event_id: nextId("event"),
      response: { ...base, status: "completed", status_details: null, output: [item] },
    });
  }

  #onSessionUpdate(session: Record<string, unknown> | undefined): void {
    const audio = session?.audio as
      | { input?: { format?: { type?: string } }; output?: { format?: { type?: string } } }
      | undefined;
    const inType = audio?.input?.format?.type;
    const outType = audio?.output?.format?.type;
    if (session?.type !== "realtime" || !inType || inType !== outType) {
      return this.#error("invalid_value", "session.update needs type realtime and one format");
    }
    this.#format = inType === "audio/pcmu" ? "pcmu" : "pcm16";
    const instructions = typeof session.instructions === "string" ? session.instructions : "";
    const callIdx = callIndexIn(instructions);
    if (callIdx >= 0) this.callIdx = callIdx;
    const first = this.#phase.kind === "idle" && !this.#response && this.#turn === 0;
    if (first && this.#s.callerSpeaksFirst) {
      this.#phase = { kind: "pause", until: performance.now() + this.#s.pauseMs };
    }
    this.#send({
      type: "session.updated",
      event_id: nextId("event"),
      session: { ...session, id: this.#sessionId, object: "realtime.session" },
    });
  }

  /** What this session recorded (see `timeline.ts`). */
  record(): SessionRecord {
    return {
      idx: this.idx,
      callIdx: this.callIdx,
      upArrived: this.#upArrived.values(),
      downSent: this.#downSent.values(),
      firstOfResponse: [...this.#firstOfResponse],
      bargeSent: this.#bargeSent.values(),
    };
  }

  #onAppend(audio: unknown): void {
    const arrivedAt = wallClockMs();
    if (typeof audio !== "string") return this.#error("missing_audio", "append without audio");
    let bytes: Uint8Array;
    try {
      bytes = Uint8Array.fromBase64(audio);
    } catch {
      return this.#error("invalid_base64", "append audio is not base64");
    }
    if (this.#format === "pcm16") {
      // One 20 ms caller frame is 960 bytes at 24 kHz: frames are matched by arrival order.
      const before = Math.floor(this.#inputBytes / 960);
      this.#inputBytes += bytes.length;
      const after = Math.floor(this.#inputBytes / 960);
      for (let n = before; n < after; n++) this.#upArrived.push(arrivedAt);
      this.#upFrames += after - before;
      return;
    }
    const stamp = readStamp(bytes);
    if (!stamp) return this.#violations.add("model: caller frame without stamp");
    if (this.callIdx < 0) this.callIdx = stamp.sessionOrCall;
    if (stamp.sessionOrCall !== this.callIdx || stamp.seq <= this.#upLastSeq) {
      this.#violations.misordered++;
    }
    this.#upLastSeq = stamp.seq;
    this.#upFrames++;
    this.#upArrived.set(stamp.seq, arrivedAt);
  }

  #onItemCreate(item: Record<string, unknown> | undefined): void {
    if (!item || typeof item.type !== "string") {
      return this.#error("invalid_value", "item.create without item");
    }
    const id = typeof item.id === "string" ? item.id : nextId("item");
    const full = { ...item, id, object: "realtime.item", status: "completed" };
    this.#send({
      type: "conversation.item.added",
      event_id: nextId("event"),
      previous_item_id: this.#lastItemId,
      item: full,
    });
    this.#send({
      type: "conversation.item.done",
      event_id: nextId("event"),
      previous_item_id: this.#lastItemId,
      item: full,
    });
    this.#lastItemId = id;
  }

  #onTruncate(e: Record<string, unknown>): void {
    const itemId = e.item_id;
    const ms = e.audio_end_ms;
    if (typeof itemId !== "string" || !this.#itemMs.has(itemId)) {
      return this.#error("item_not_found", `no assistant item ${String(itemId)}`, "item_id");
    }
    if (typeof ms !== "number" || !Number.isInteger(ms) || ms < 0) {
      return this.#error("invalid_value", "audio_end_ms must be a non-negative integer");
    }
    if (ms > this.#itemMs.get(itemId)!) {
      return this.#error(
        "invalid_value",
        `audio_end_ms ${ms} is longer than the audio (${this.#itemMs.get(itemId)} ms)`,
        "audio_end_ms",
      );
    }
    this.#send({
      type: "conversation.item.truncated",
      event_id: nextId("event"),
      item_id: itemId,
      content_index: 0,
      audio_end_ms: ms,
    });
  }

  // ------------------------------------------------------------------ responses

  #startResponse(
    scripted: boolean,
    bargeAtFrame: number,
    metadata: Record<string, string> | null = null,
  ): void {
    const id = nextId("resp");
    const itemId = nextId("item");
    const frames = Math.round((scripted ? this.#s.answerMs : this.#s.greetingMs) / FRAME_MS);
    this.#response = {
      id,
      itemId,
      startedAt: performance.now(),
      frames,
      sentFrames: 0,
      bargeAtFrame,
      scripted,
      metadata,
    };
    this.#itemMs.set(itemId, 0);
    const item = {
      id: itemId,
      object: "realtime.item",
      type: "message",
      role: "assistant",
      status: "in_progress",
      content: [],
    };
    this.#send({
      type: "response.created",
      event_id: nextId("event"),
      response: { id, object: "realtime.response", status: "in_progress", metadata, output: [] },
    });
    this.#send({
      type: "response.output_item.added",
      event_id: nextId("event"),
      response_id: id,
      output_index: 0,
      item,
    });
    this.#itemAdded(itemId, item);
    this.#send({
      type: "response.content_part.added",
      event_id: nextId("event"),
      response_id: id,
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      part: { type: "audio", transcript: "" },
    });
    this.#send({
      type: "response.output_audio_transcript.delta",
      event_id: nextId("event"),
      response_id: id,
      item_id: itemId,
      output_index: 0,
      content_index: 0,
      delta: "Certainly. ",
    });
  }

  #sendDelta(r: ActiveResponse): void {
    // The send time is now, not the tick's start: the ticker may have served others first.
    const sentAt = wallClockMs();
    const seq = this.#downSent.push(sentAt);
    if (r.sentFrames === 0) this.#firstOfResponse.push(seq);
    r.sentFrames++;
    this.#itemMs.set(r.itemId, r.sentFrames * FRAME_MS);
    let b64: string;
    if (this.#format === "pcm16") b64 = PCM16_FRAME_B64;
    else {
      b64 = this.#frames.base64(this.idx, seq, sentAt);
    }
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(
      '{"type":"response.output_audio.delta","event_id":"' + nextId("event") +
        '","response_id":"' + r.id + '","item_id":"' + r.itemId +
        '","output_index":0,"content_index":0,"delta":"' + b64 + '"}',
    );
  }

  #endResponse(status: "completed" | "cancelled"): void {
    const r = this.#response;
    if (!r) return;
    this.#response = undefined;
    const base = { response_id: r.id, item_id: r.itemId, output_index: 0, content_index: 0 };
    if (status === "completed") {
      this.#send({ type: "response.output_audio.done", event_id: nextId("event"), ...base });
    }
    this.#send({
      type: "response.output_audio_transcript.done",
      event_id: nextId("event"),
      ...base,
      transcript: "Certainly.",
    });
    const item = {
      id: r.itemId,
      object: "realtime.item",
      type: "message",
      role: "assistant",
      status: status === "completed" ? "completed" : "incomplete",
      content: [{ type: "output_audio", transcript: "Certainly." }],
    };
    this.#send({
      type: "response.output_item.done",
      event_id: nextId("event"),
      response_id: r.id,
      output_index: 0,
      item,
    });
    this.#send({
      type: "response.done",
      event_id: nextId("event"),
      response: {
        id: r.id,
        object: "realtime.response",
        status,
        metadata: r.metadata,
        status_details: status === "cancelled"
          ? { type: "cancelled", reason: "turn_detected" }
          : null,
        output: [item],
      },
    });
    if (r.scripted || this.#turn === 0) {
      if (status === "completed") {
        this.#phase = { kind: "pause", until: performance.now() + this.#s.pauseMs };
      }
    }
  }

  // ------------------------------------------------------------------ the script

  /** Streams due audio and moves the scripted conversation on. */
  tick(now: number): void {
    if (this.#quiet()) return;
    const r = this.#response;
    if (r) {
      const lead = Math.round(this.#s.prebufferMs / FRAME_MS);
      // The lead at once, then one frame per 20 ms.
      const due = Math.min(r.frames, lead + Math.floor((now - r.startedAt) / FRAME_MS));
      while (r.sentFrames < due && this.#response === r) {
        if (r.sentFrames === r.bargeAtFrame) {
          this.#bargeIn(now);
          return;
        }
        this.#sendDelta(r);
      }
      if (r.sentFrames >= r.frames && this.#response === r) this.#endResponse("completed");
      return;
    }
    const phase = this.#phase;
    if (phase.kind === "pause" && now >= phase.until) this.#startTalking(now);
    else if (phase.kind === "talking" && now >= phase.until) this.#stopTalking(phase.itemId);
  }

  #audioMs(): number {
    return this.#upFrames * FRAME_MS;
  }

  #startTalking(now: number, itemId = nextId("item")): void {
    this.#phase = { kind: "talking", until: now + this.#s.speechMs, itemId };
    this.#send({
      type: "input_audio_buffer.speech_started",
      event_id: nextId("event"),
      audio_start_ms: this.#audioMs(),
      item_id: itemId,
    });
  }

  #bargeIn(now: number): void {
    this.#bargeSent.push(wallClockMs());
    this.#startTalking(now);
    this.#endResponse("cancelled");
  }

  #stopTalking(itemId: string): void {
    this.#phase = { kind: "idle" };
    const ms = this.#audioMs();
    this.#send({
      type: "input_audio_buffer.speech_stopped",
      event_id: nextId("event"),
      audio_end_ms: ms,
      item_id: itemId,
    });
    this.#send({
      type: "input_audio_buffer.committed",
      event_id: nextId("event"),
      previous_item_id: this.#lastItemId,
      item_id: itemId,
    });
    const item = {
      id: itemId,
      object: "realtime.item",
      type: "message",
      role: "user",
      status: "completed",
      content: [{ type: "input_audio", transcript: null }],
    };
    this.#itemAdded(itemId, item);
    this.#send({
      type: "conversation.item.input_audio_transcription.completed",
      event_id: nextId("event"),
      item_id: itemId,
      content_index: 0,
      transcript: "I would like to book a haircut.",
    });
    this.#turn++;
    // Every second answer is interrupted mid-stream.
    const barge = this.#turn % 2 === 0 ? Math.round(this.#s.bargeAtMs / FRAME_MS) : -1;
    this.#startResponse(true, barge);
  }
}

/** The text an out-of-band request gets: a summary of a call that booked nothing. */
const OUT_OF_BAND_TEXT = JSON.stringify({
  summary: "The caller talked with the receptionist; nothing was booked.",
  intent: "enquiry",
  outcome: "no booking",
  follow_up: { needed: false, reason: null },
  claims: [],
});

/** The `metadata` of a `response.create`'s `response`, if it has string values only. */
function requestMetadata(response: unknown): Record<string, string> | null {
  const metadata = (response as { metadata?: unknown } | undefined)?.metadata;
  if (typeof metadata !== "object" || metadata === null) return null;
  const entries = Object.entries(metadata).filter(([, v]) => typeof v === "string");
  return Object.fromEntries(entries) as Record<string, string>;
}
