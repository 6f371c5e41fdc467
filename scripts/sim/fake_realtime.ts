/**
 * A fake OpenAI Realtime (GA) server for tests, strict enough to catch protocol mistakes.
 *
 * - Checks the handshake like the real service: path `/v1/realtime`, a known `model` query,
 *   `Authorization: Bearer KEY`, and no `OpenAI-Beta` header (error event, then close with
 *   `invalid_request_error.<code>` as the reason).
 * - Validates every client event against the GA shapes (unknown fields are errors).
 * - Sends `session.created` (with `expires_at`) and `session.updated` (merged config).
 * - Runs an energy VAD on the decoded input audio (mu-law 8 kHz or PCM16 24 kHz) and emits
 *   `speech_started`/`speech_stopped` with `audio_start_ms` (includes prefix padding) and
 *   `audio_end_ms` (includes the silence duration), measured in audio time.
 * - Commits the turn, transcribes it from a script, and answers with a scripted response:
 *   audio deltas (tone, faster than real time) with a transcript, or function calls.
 * - Enforces one active response, truncate bounds, `call_id` existence for tool outputs,
 *   voice changes after audio; barge-in (speech during a response) cancels it.
 * - Can drop connections on cue and ends sessions at their TTL (`session_expired`).
 * - Answers out-of-band text responses (`conversation: "none"`, see the section at the end).
 * - Closes a cancelled response like the real server (audio, transcript, part and item done,
 *   the item `incomplete`), types assistant audio content `output_audio`, and completes input
 *   transcriptions asynchronously, after the response started.
 * - Switches for the real server's legal variations ({@linkcode FAKE_VARIATIONS}).
 * - Its events type-check against the official `openai` package's `RealtimeServerEvent`
 *   (tests/realtime/sdk_conformance_test.ts).
 *
 * @module
 */
import { z } from "zod";
import { referenceDecode as decodeMulaw, referenceEncode as encodeMulaw } from "./g711.ts";
import { upsample8kTo24k } from "./reference_audio.ts";

/** An item in a fake session's conversation. */
export interface FakeItem {
  id: string;
  type: "message" | "function_call" | "function_call_output";
  role?: "user" | "assistant" | "system";
  /** Text of a text message, the transcript of user audio, or the assistant transcript. */
  text?: string;
  /** How the item was created. */
  origin: "client" | "audio" | "response";
  callId?: string;
  name?: string;
  arguments?: string;
  output?: string;
  /** Assistant audio sent for the item, ms. */
  audioMs: number;
  /** Set once the client truncated it. */
  truncatedMs?: number;
}

/** What the fake answers. */
export type ScriptedResponse =
  | {
    /** Assistant audio to stream, ms. */
    audioMs: number;
    /** Its transcript. */
    transcript: string;
    /** Drop the connection after this much audio of the response was sent (on cue). */
    dropAfterMs?: number;
    /**
     * What to say, as 8 kHz PCM16 (e.g. a speech fixture), instead of a 440 Hz tone: sent
     * as mu-law (reference G.711 encoder) or as 24 kHz PCM16 (the fake's own upsampler).
     * Padded with silence, or cut, to `audioMs`.
     */
    pcm8k?: Int16Array;
    /**
     * Function calls the same response makes after its audio (e.g. a goodbye, then
     * `end_call`), as the real model can: one response, the message item first.
     */
    thenCall?: { name: string; arguments: string }[];
  }
  | { functionCalls: { name: string; arguments: string }[] };

/** What the responder knows when asked for a response. */
export interface ResponseContext {
  /** Why a response is produced: a VAD-committed user turn, or the client's response.create. */
  trigger: "turn" | "response.create";
  /** Index of the session (connection) in {@linkcode FakeRealtime.sessions}. */
  sessionIndex: number;
  /** The session itself (its configuration holds the instructions, e.g. the caller's number). */
  session: FakeSession;
  /** The conversation of this session, oldest first. */
  items: readonly FakeItem[];
  /** The newest item, if any. */
  lastItem: FakeItem | undefined;
  /** Text of the newest user message, if any. */
  lastUserText: string | undefined;
  /** Per-response instructions from response.create. */
  instructions?: string;
}

/** Decides each response. */
export type Responder = (ctx: ResponseContext) => ScriptedResponse;

/** Options of {@linkcode startFakeRealtime}. */
export interface FakeRealtimeOptions {
  apiKey?: string;
  /**
   * Accepted models; default the current ones (`gpt-realtime-2.1`, `-2`, `-1.5`, `-2.1-mini`)
   * and `gpt-realtime` (deprecated, still served until its shutdown).
   */
  models?: string[];
  /**
   * Transcript of a caller turn committed by the VAD. `turn` is 0-based and counted per
   * session: the user messages already in that session's conversation, plus the "Caller:"
   * lines of a transcript re-injected as a system message (so every call starts at 0, however
   * many calls run at once, and a reconnected session carries on where the call was).
   */
  transcripts?: string[] | ((turn: number, session: FakeSession) => string);
  responder?: Responder;
  /** Audio per delta, ms. Default 100. */
  chunkMs?: number;
  /** Wall time between deltas, ms (100 ms chunks every 5 ms = 20x real time). Default 5. */
  chunkIntervalMs?: number;
  /** Session lifetime; `expires_at` is derived from it. Default 60 minutes. */
  sessionTtlMs?: number;
  /** RMS (PCM16 scale) of a speech frame at VAD threshold 0.5 (scales linearly). Default 500. */
  vadRmsAtHalf?: number;
  /** Port to listen on (127.0.0.1); default 0, a free one. */
  port?: number;
  /** Wait this long after the handshake before `session.created` (a slow server). Default 0. */
  sessionCreatedDelayMs?: number;
  /** Answers out-of-band responses (default {@linkcode honestSummary}). */
  outOfBand?: OutOfBandResponder;
  /**
   * Wall time from a turn's `response.created` to its input transcription, ms. Default 0:
   * the transcription completes asynchronously, right after the response started, as the
   * real server's separate transcription model does.
   */
  transcriptionDelayMs?: number;

  // Switches for the real server's legal variations (see {@linkcode FAKE_VARIATIONS}).

  /** `response.function_call_arguments.done` without `name` (the field is from 2026-02). */
  omitFunctionCallName?: boolean;
  /**
   * The first default-conversation `response.create` of each session meets a response the
   * server's VAD started itself (the caller's speech just stopped): the server's response
   * runs, the create is refused with `conversation_already_has_active_response`.
   */
  raceResponseCreate?: boolean;
  /** The first default-conversation `response.create` of each session is refused (`server_error`). */
  rejectResponseCreate?: boolean;
  /**
   * After history was re-injected (the client created system or assistant messages before
   * the session's first response), the first response is text only: no audio.
   */
  textOnlyAfterReinjection?: boolean;
  /** Input transcriptions complete only after the turn's response is done. */
  lateTranscription?: boolean;
  /**
   * An unknown event type after every `response.created`, and unknown fields on every
   * event and item (the API adds both without notice).
   */
  unknownEvents?: boolean;
}

/** The fake's switches for the real server's legal variations. */
export type FakeVariation =
  | "omitFunctionCallName"
  | "raceResponseCreate"
  | "rejectResponseCreate"
  | "textOnlyAfterReinjection"
  | "lateTranscription"
  | "unknownEvents";

/** Every variation switch, by name (for tests that run a call through each). */
export const FAKE_VARIATIONS: readonly FakeVariation[] = [
  "omitFunctionCallName",
  "raceResponseCreate",
  "rejectResponseCreate",
  "textOnlyAfterReinjection",
  "lateTranscription",
  "unknownEvents",
];

/** Options turning on the given variations (`"all"`: every one at once). */
export function variationOptions(
  which: FakeVariation | "all" | "none",
): Partial<Record<FakeVariation, boolean>> {
  if (which === "none") return {};
  const names = which === "all" ? FAKE_VARIATIONS : [which];
  return Object.fromEntries(names.map((n) => [n, true]));
}

/** One connection the fake accepted. */
export interface FakeSession {
  index: number;
  id: string;
  /** Request URL of the handshake. */
  url: string;
  headers: Headers;
  /** Every client event received, parsed (appends are stored as `{type, bytes}`). */
  clientEvents: Record<string, unknown>[];
  /** Types of every server event sent, in order. */
  serverEvents: string[];
  /** Error events sent. */
  errors: { type: string; code: string; message: string; param: string | null }[];
  /** Effective session configuration (after session.update). */
  config: Record<string, unknown>;
  items: FakeItem[];
  /** Responses in order of creation, with the assistant audio item each one produced. */
  responses: { id: string; itemId?: string }[];
  /** Input audio received, ms. */
  inputMs: number;
  /** Out-of-band responses asked for, in order (see {@linkcode OutOfBandRecord}). */
  outOfBand: OutOfBandRecord[];
  closed: boolean;
  /** Close code seen from the client (undefined if the server closed). */
  closeCode?: number;
}

/** Handshakes the fake refused. */
export interface RejectedHandshake {
  code: string;
  url: string;
}

/** The running fake. */
export interface FakeRealtime {
  /** `ws://127.0.0.1:PORT/v1/realtime` (add `?model=`). */
  url: string;
  sessions: FakeSession[];
  rejected: RejectedHandshake[];
  /** Replaces the responder. */
  setResponder(fn: Responder): void;
  /** Replaces the out-of-band responder. */
  setOutOfBand(fn: OutOfBandResponder): void;
  /** Sends raw text to an open session's client (to test unknown/malformed/error events). */
  inject(sessionIndex: number, text: string): void;
  /** Closes open connections abruptly (code 1011), or only the given session. */
  dropConnection(sessionIndex?: number): void;
  /** Resolves when `predicate` holds (polled), rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Stops the server, closes sockets, waits for response streams to end. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Client event schemas (GA only; strict: unknown parameters are rejected like the API does)
// ---------------------------------------------------------------------------------------

const AudioFormat = z.union([
  z.strictObject({ type: z.literal("audio/pcmu") }),
  z.strictObject({ type: z.literal("audio/pcma") }),
  z.strictObject({ type: z.literal("audio/pcm"), rate: z.literal(24000) }),
]);
const TurnDetection = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("server_vad"),
    threshold: z.number().min(0).max(1).optional(),
    prefix_padding_ms: z.number().int().min(0).optional(),
    silence_duration_ms: z.number().int().min(0).optional(),
    create_response: z.boolean().optional(),
    interrupt_response: z.boolean().optional(),
    idle_timeout_ms: z.number().int().nullable().optional(),
  }),
  z.strictObject({
    type: z.literal("semantic_vad"),
    eagerness: z.enum(["low", "medium", "high", "auto"]).optional(),
    create_response: z.boolean().optional(),
    interrupt_response: z.boolean().optional(),
  }),
]);
const Tool = z.strictObject({
  type: z.literal("function"),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  description: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
});
const SessionSchema = z.strictObject({
  type: z.literal("realtime"),
  model: z.string().optional(),
  output_modalities: z.array(z.enum(["audio", "text"])).optional(),
  instructions: z.string().optional(),
  audio: z.strictObject({
    input: z.strictObject({
      format: AudioFormat.optional(),
      transcription: z.strictObject({
        model: z.string(),
        language: z.string().optional(),
        prompt: z.string().optional(),
      }).nullable().optional(),
      noise_reduction: z.strictObject({ type: z.enum(["near_field", "far_field"]) }).nullable()
        .optional(),
      turn_detection: TurnDetection.nullable().optional(),
    }).optional(),
    output: z.strictObject({
      format: AudioFormat.optional(),
      voice: z.string().optional(),
      speed: z.number().optional(),
    }).optional(),
  }).optional(),
  tools: z.array(Tool).optional(),
  tool_choice: z.union([z.enum(["auto", "none", "required"]), z.record(z.string(), z.unknown())])
    .optional(),
  max_output_tokens: z.union([z.number().int(), z.literal("inf")]).optional(),
  reasoning: z.strictObject({
    effort: z.enum(["minimal", "low", "medium", "high", "xhigh"]).nullable().optional(),
  }).optional(),
  tracing: z.unknown().optional(),
  truncation: z.unknown().optional(),
  include: z.array(z.string()).optional(),
});
const InputText = z.strictObject({ type: z.literal("input_text"), text: z.string() });
const OutputText = z.strictObject({ type: z.literal("output_text"), text: z.string() });
const ItemCreate = z.union([
  z.strictObject({
    id: z.string().optional(),
    type: z.literal("message"),
    role: z.enum(["user", "system"]),
    content: z.array(InputText).min(1),
  }),
  z.strictObject({
    id: z.string().optional(),
    type: z.literal("message"),
    role: z.literal("assistant"),
    content: z.array(OutputText).min(1),
  }),
  z.strictObject({
    id: z.string().optional(),
    type: z.literal("function_call"),
    call_id: z.string().min(1),
    name: z.string().min(1),
    arguments: z.string(),
  }),
  z.strictObject({
    id: z.string().optional(),
    type: z.literal("function_call_output"),
    call_id: z.string().min(1),
    output: z.string(),
  }),
]);
const eventId = { event_id: z.string().optional() };
// Out-of-band input (`response.create.response.input`): items, and references to items.
const ItemReference = z.strictObject({ type: z.literal("item_reference"), id: z.string().min(1) });
const OutOfBandInputSchema = z.array(z.union([ItemReference, ItemCreate]));
/** Strict zod schema of every GA client event the fake accepts (exported for builder tests). */
export const ClientEventSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("session.update"), ...eventId, session: SessionSchema }),
  z.strictObject({
    type: z.literal("input_audio_buffer.append"),
    ...eventId,
    audio: z.string().min(1),
  }),
  z.strictObject({ type: z.literal("input_audio_buffer.commit"), ...eventId }),
  z.strictObject({ type: z.literal("input_audio_buffer.clear"), ...eventId }),
  z.strictObject({
    type: z.literal("conversation.item.create"),
    ...eventId,
    previous_item_id: z.string().nullable().optional(),
    item: ItemCreate,
  }),
  z.strictObject({
    type: z.literal("conversation.item.truncate"),
    ...eventId,
    item_id: z.string(),
    content_index: z.number().int().min(0),
    audio_end_ms: z.number().int().min(0),
  }),
  z.strictObject({ type: z.literal("conversation.item.delete"), ...eventId, item_id: z.string() }),
  z.strictObject({
    type: z.literal("response.create"),
    ...eventId,
    response: z.strictObject({
      instructions: z.string().optional(),
      tool_choice: z.enum(["auto", "none", "required"]).optional(),
      metadata: z.record(z.string(), z.string()).optional(),
      conversation: z.enum(["auto", "none"]).optional(),
      output_modalities: z.array(z.enum(["audio", "text"])).optional(),
      input: OutOfBandInputSchema.optional(),
      max_output_tokens: z.union([z.number().int(), z.literal("inf")]).optional(),
    }).optional(),
  }),
  z.strictObject({
    type: z.literal("response.cancel"),
    ...eventId,
    response_id: z.string().optional(),
  }),
]);
type ClientEventT = z.infer<typeof ClientEventSchema>;
const ClientEvent = ClientEventSchema;

// ---------------------------------------------------------------------------------------

const FATAL_CLOSE = { auth: 3000, beta: 4000 } as const;
const FRAME_MS = 20;

interface ActiveResponse {
  id: string;
  cancelled: false | string;
  /** `response.metadata` of the response.create it answers (echoed like the real server). */
  metadata?: Record<string, string>;
  /** Text only (no audio), e.g. after re-injected history with that switch on. */
  textOnly?: boolean;
  /** Run once `response.created` was sent (the turn's transcription). */
  onCreated?: () => void;
  /** Run once `response.done` was sent (a late transcription). */
  onDone?: () => void;
}

interface VadState {
  rate: number;
  /** Samples analysed so far (session-wide). */
  samples: number;
  carry: Int16Array;
  carryLen: number;
  speaking: boolean;
  /** Consecutive speech frames before speaking. */
  run: number;
  runStartMs: number;
  lastSpeechEndMs: number;
  /** Start of uncommitted audio (after the last commit), ms. */
  bufferStartMs: number;
  itemId: string | undefined;
}

let idCounter = 0;
const nextId = (prefix: string) => `${prefix}_${(++idCounter).toString(36).padStart(6, "0")}`;

/** Starts the fake on 127.0.0.1 with a free port. */
export function startFakeRealtime(opts: FakeRealtimeOptions = {}): Promise<FakeRealtime> {
  const apiKey = opts.apiKey ?? "test-key";
  const models = new Set(
    opts.models ??
      [
        "gpt-realtime-2.1",
        "gpt-realtime-2",
        "gpt-realtime-1.5",
        "gpt-realtime-2.1-mini",
        "gpt-realtime",
      ],
  );
  const chunkMs = opts.chunkMs ?? 100;
  const chunkIntervalMs = opts.chunkIntervalMs ?? 5;
  const ttlMs = opts.sessionTtlMs ?? 60 * 60 * 1000;
  const vadRmsAtHalf = opts.vadRmsAtHalf ?? 500;
  let responder: Responder = opts.responder ??
    (() => ({ audioMs: 500, transcript: "Okay." }));
  let outOfBand: OutOfBandResponder = opts.outOfBand ?? honestSummary;

  const sessions: FakeSession[] = [];
  const rejected: RejectedHandshake[] = [];
  const sockets = new Map<FakeSession, WebSocket>();
  const running = new Set<Promise<void>>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  /** Runs `fn` after `ms` of wall time (cleared by close()). */
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const transcriptFor = (turn: number, session: FakeSession): string => {
    const t = opts.transcripts;
    if (typeof t === "function") return t(turn, session);
    return t?.[turn] ?? `user turn ${turn + 1}`;
  };

  function handleSocket(ws: WebSocket, s: FakeSession): void {
    let active: ActiveResponse | null = null;
    let audioOutputStarted = false;
    /** Default-conversation `response.create`s received, and which switch took which. */
    let creates = 0;
    let racedCreate = 0;
    const vad: VadState = {
      rate: 24000,
      samples: 0,
      carry: new Int16Array(480),
      carryLen: 0,
      speaking: false,
      run: 0,
      runStartMs: 0,
      lastSpeechEndMs: 0,
      bufferStartMs: 0,
      itemId: undefined,
    };

    const send = (type: string, payload: Record<string, unknown> = {}) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      s.serverEvents.push(type);
      const event = { type, event_id: nextId("event"), ...payload };
      ws.send(JSON.stringify(opts.unknownEvents ? withUnknownFields(event) : event));
    };
    const error = (
      code: string,
      message: string,
      param: string | null = null,
      clientEventId?: string,
      type = "invalid_request_error",
    ) => {
      s.errors.push({ type, code, message, param });
      send("error", {
        error: {
          type,
          code: type === "server_error" ? null : code,
          message,
          param,
          event_id: clientEventId ?? null,
        },
      });
    };
    const cfg = () => s.config as unknown as ConfigShape;
    const inputFormat = () => cfg().audio.input.format.type;
    const lastItemId = () => s.items.at(-1)?.id ?? null;
    const oobWire: OutOfBandWire = {
      session: s,
      send,
      error,
      open: () => ws.readyState === WebSocket.OPEN,
      drop: () => closeSocket(ws, 1011, "upstream connect error"),
      sleep,
      track: (p) => {
        running.add(p);
        p.finally(() => running.delete(p));
      },
      responder: () => outOfBand,
    };

    const expiry = setTimeout(() => {
      timers.delete(expiry);
      error("session_expired", "Your session hit the maximum duration of 60 minutes.");
      closeSocket(ws, 1000, "session expired");
    }, ttlMs);
    timers.add(expiry);

    const created = () => send("session.created", { session: sessionView(s) });
    if (opts.sessionCreatedDelayMs) {
      const delayed = setTimeout(() => {
        timers.delete(delayed);
        if (!s.closed) created();
      }, opts.sessionCreatedDelayMs);
      timers.add(delayed);
    } else created();

    ws.onclose = (e) => {
      s.closed = true;
      if (s.closeCode === undefined) s.closeCode = e.code;
      clearTimeout(expiry);
      timers.delete(expiry);
      if (active) active.cancelled = "closed";
      sockets.delete(s);
    };

    ws.onmessage = (m) => {
      if (typeof m.data !== "string") {
        error("invalid_value", "Binary frames are not supported; send JSON text events.");
        return;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(m.data);
      } catch {
        error("invalid_json", "The event is not valid JSON.");
        return;
      }
      const parsed = ClientEvent.safeParse(raw);
      const rawObj = (typeof raw === "object" && raw !== null ? raw : {}) as Record<
        string,
        unknown
      >;
      const clientEventId = typeof rawObj.event_id === "string" ? rawObj.event_id : undefined;
      if (!parsed.success) {
        s.clientEvents.push(rawObj);
        const issue = parsed.error.issues[0];
        const code = issue.code === "unrecognized_keys" ? "unknown_parameter" : "invalid_value";
        error(
          code,
          `Invalid event: ${issue.message} at ${issue.path.join(".")}`,
          issue.path.join(".") || null,
          clientEventId,
        );
        return;
      }
      const e = parsed.data;
      if (e.type === "input_audio_buffer.append") {
        s.clientEvents.push({ type: e.type, bytes: e.audio.length });
      } else s.clientEvents.push(rawObj);
      handleEvent(e, clientEventId);
    };

    function handleEvent(e: ClientEventT, evId: string | undefined): void {
      switch (e.type) {
        case "session.update": {
          const next = e.session;
          const voice = next.audio?.output?.voice;
          if (voice !== undefined && audioOutputStarted && voice !== cfg().audio.output.voice) {
            error("cannot_update_voice", "Cannot update a session's voice after audio output.");
            return;
          }
          if (next.model !== undefined && !models.has(next.model)) {
            error("invalid_value", `Model ${next.model} is not supported.`, "session.model", evId);
            return;
          }
          s.config = deepMerge(s.config, next as Record<string, unknown>);
          const td = cfg().audio.input.turn_detection;
          if (td && td.type === "server_vad") {
            td.threshold ??= 0.5;
            td.prefix_padding_ms ??= 300;
            td.silence_duration_ms ??= 200;
          }
          send("session.updated", { session: sessionView(s) });
          return;
        }
        case "input_audio_buffer.append": {
          let bytes: Uint8Array;
          try {
            bytes = Uint8Array.fromBase64(e.audio);
          } catch {
            error(
              "invalid_value",
              "Invalid 'audio'. Expected base64-encoded audio bytes.",
              "audio",
            );
            return;
          }
          const fmt = inputFormat();
          if (fmt === "audio/pcm" && bytes.length % 2 !== 0) {
            error("invalid_value", "PCM16 audio must have an even number of bytes.", "audio");
            return;
          }
          const samples = fmt === "audio/pcm" ? pcm16FromBytes(bytes) : decodeMulaw(bytes);
          vad.rate = fmt === "audio/pcm" ? 24000 : 8000;
          s.inputMs += (samples.length / vad.rate) * 1000;
          runVad(samples);
          return;
        }
        case "input_audio_buffer.commit": {
          const ms = (vad.samples + vad.carryLen) / vad.rate * 1000;
          if (ms - vad.bufferStartMs < 100) {
            error(
              "input_audio_buffer_commit_empty",
              "Error committing input audio buffer: buffer too small.",
            );
            return;
          }
          commitTurn(vad.itemId ?? nextId("item"), false);
          vad.bufferStartMs = ms;
          return;
        }
        case "input_audio_buffer.clear":
          vad.bufferStartMs = (vad.samples + vad.carryLen) / vad.rate * 1000;
          send("input_audio_buffer.cleared");
          return;
        case "conversation.item.create": {
          const it = e.item;
          if (it.id !== undefined && s.items.some((x) => x.id === it.id)) {
            error("item_id_exists", `Item ${it.id} already exists.`, "item.id", evId);
            return;
          }
          if (it.type === "function_call_output") {
            const call = s.items.find((x) => x.type === "function_call" && x.callId === it.call_id);
            if (!call) {
              error(
                "invalid_value",
                `Tool call ID '${it.call_id}' not found in conversation.`,
                "item.call_id",
                evId,
              );
              return;
            }
          }
          const prev = lastItemId();
          const item: FakeItem = {
            id: it.id ?? nextId("item"),
            type: it.type,
            origin: "client",
            audioMs: 0,
          };
          if (it.type === "message") {
            item.role = it.role;
            item.text = it.content.map((c) => c.text).join("");
          } else if (it.type === "function_call") {
            item.callId = it.call_id;
            item.name = it.name;
            item.arguments = it.arguments;
          } else {
            item.callId = it.call_id;
            item.output = it.output;
          }
          s.items.push(item);
          send("conversation.item.added", { previous_item_id: prev, item: itemView(item) });
          send("conversation.item.done", { previous_item_id: prev, item: itemView(item) });
          return;
        }
        case "conversation.item.truncate": {
          const item = s.items.find((x) => x.id === e.item_id);
          if (!item) {
            error("item_truncate_invalid_item_id", `Item ${e.item_id} not found.`, "item_id", evId);
            return;
          }
          if (item.type !== "message" || item.role !== "assistant" || item.origin !== "response") {
            error(
              "invalid_value",
              "Only assistant messages with audio can be truncated.",
              "item_id",
              evId,
            );
            return;
          }
          if (e.content_index !== 0) {
            error("invalid_value", "content_index out of range.", "content_index", evId);
            return;
          }
          if (e.audio_end_ms > item.audioMs) {
            error(
              "invalid_value",
              `Audio content of ${
                Math.floor(item.audioMs)
              }ms is already shorter than ${e.audio_end_ms}ms`,
              "audio_end_ms",
              evId,
            );
            return;
          }
          item.truncatedMs = e.audio_end_ms;
          item.audioMs = e.audio_end_ms;
          item.text = ""; // the server drops the transcript of truncated audio
          send("conversation.item.truncated", {
            item_id: item.id,
            content_index: 0,
            audio_end_ms: e.audio_end_ms,
          });
          return;
        }
        case "conversation.item.delete": {
          const i = s.items.findIndex((x) => x.id === e.item_id);
          if (i < 0) {
            error("item_delete_invalid_item_id", `Item ${e.item_id} not found.`, "item_id", evId);
            return;
          }
          s.items.splice(i, 1);
          send("conversation.item.deleted", { item_id: e.item_id });
          return;
        }
        case "response.create":
          // Out of band: not the default conversation, so not subject to its one-response rule.
          if (e.response?.conversation === "none") {
            outOfBandResponse(oobWire, e.response, evId);
            return;
          }
          creates++;
          if (opts.raceResponseCreate && creates === 1 && !active) {
            // The caller's speech just stopped: the server's VAD response got there first.
            racedCreate = creates;
            startResponse("turn", undefined);
          }
          if (active) {
            error(
              "conversation_already_has_active_response",
              `Conversation already has an active response in progress: ${active.id}. ` +
                "Wait until the response is finished before creating a new one.",
              null,
              evId,
            );
            return;
          }
          if (opts.rejectResponseCreate && creates === (racedCreate === 1 ? 2 : 1)) {
            error(
              "server_error",
              "The server had an error while processing your request. Sorry about that!",
              null,
              evId,
              "server_error",
            );
            return;
          }
          startResponse("response.create", e.response?.instructions, e.response?.metadata);
          return;
        case "response.cancel":
          if (!active || (e.response_id !== undefined && e.response_id !== active.id)) {
            error(
              "response_cancel_not_active",
              "Cancellation failed: no active response found",
              null,
              evId,
            );
            return;
          }
          active.cancelled = "client_cancelled";
          return;
      }
    }

    function runVad(samples: Int16Array): void {
      const frame = (vad.rate * FRAME_MS) / 1000;
      if (vad.carry.length !== frame) {
        vad.carry = new Int16Array(frame);
        vad.carryLen = 0;
      }
      let i = 0;
      while (i < samples.length) {
        const take = Math.min(frame - vad.carryLen, samples.length - i);
        vad.carry.set(samples.subarray(i, i + take), vad.carryLen);
        vad.carryLen += take;
        i += take;
        if (vad.carryLen === frame) {
          frameDone(vad.carry);
          vad.samples += frame;
          vad.carryLen = 0;
        }
      }
    }

    function frameDone(frame: Int16Array): void {
      const td = cfg().audio.input.turn_detection;
      if (!td) return;
      let sum = 0;
      for (let k = 0; k < frame.length; k++) sum += frame[k] * frame[k];
      const rms = Math.sqrt(sum / frame.length);
      const threshold = td.type === "server_vad" ? td.threshold ?? 0.5 : 0.5;
      const startMs = (vad.samples / vad.rate) * 1000;
      const endMs = startMs + FRAME_MS;
      const speech = rms >= vadRmsAtHalf * (threshold / 0.5);
      const prefix = td.type === "server_vad" ? td.prefix_padding_ms ?? 300 : 300;
      const silence = td.type === "server_vad" ? td.silence_duration_ms ?? 200 : 500;
      if (!vad.speaking) {
        if (!speech) {
          vad.run = 0;
          return;
        }
        if (vad.run === 0) vad.runStartMs = startMs;
        vad.run++;
        if (vad.run < 2) return; // 40 ms of energy before calling it speech
        vad.speaking = true;
        vad.lastSpeechEndMs = endMs;
        vad.itemId = nextId("item");
        const audioStart = Math.max(vad.bufferStartMs, vad.runStartMs - prefix);
        send("input_audio_buffer.speech_started", {
          audio_start_ms: Math.round(audioStart),
          item_id: vad.itemId,
        });
        if (active && td.interrupt_response !== false) active.cancelled = "turn_detected";
        return;
      }
      if (speech) {
        vad.lastSpeechEndMs = endMs;
        return;
      }
      if (endMs - vad.lastSpeechEndMs >= silence) {
        vad.speaking = false;
        vad.run = 0;
        const itemId = vad.itemId!;
        vad.itemId = undefined;
        const audioEnd = Math.round(vad.lastSpeechEndMs + silence);
        send("input_audio_buffer.speech_stopped", { audio_end_ms: audioEnd, item_id: itemId });
        vad.bufferStartMs = endMs;
        commitTurn(itemId, td.create_response !== false);
      }
    }

    function commitTurn(itemId: string, respond: boolean): void {
      const prev = lastItemId();
      // Per session: calls running side by side each follow their own script. A session
      // that continues a call counts the caller's turns its re-injected context carries:
      // user messages, and "Caller:" lines of a transcript given as a system message.
      const turn = s.items.filter((x) => x.type === "message" && x.role === "user").length +
        s.items.filter((x) => x.role === "system")
          .reduce((n, x) => n + ((x.text ?? "").match(/^Caller: /gm)?.length ?? 0), 0);
      const item: FakeItem = {
        id: itemId,
        type: "message",
        role: "user",
        origin: "audio",
        audioMs: 0,
      };
      s.items.push(item);
      send("input_audio_buffer.committed", { previous_item_id: prev, item_id: itemId });
      const view = {
        id: itemId,
        type: "message",
        role: "user",
        status: "completed",
        content: [{ type: "input_audio", transcript: null }],
      };
      send("conversation.item.added", { previous_item_id: prev, item: view });
      send("conversation.item.done", { previous_item_id: prev, item: view });
      const text = transcriptFor(turn, s);
      item.text = text;
      // A separate model transcribes: its result comes after the response has started
      // (or, with `lateTranscription`, after it is done).
      const transcribe = () => {
        if (!cfg().audio.input.transcription) return;
        send("conversation.item.input_audio_transcription.delta", {
          item_id: itemId,
          content_index: 0,
          delta: text,
        });
        send("conversation.item.input_audio_transcription.completed", {
          item_id: itemId,
          content_index: 0,
          transcript: text,
          usage: {
            type: "tokens",
            input_tokens: Math.ceil(text.length / 2),
            output_tokens: Math.ceil(text.length / 4),
            total_tokens: Math.ceil(text.length / 2) + Math.ceil(text.length / 4),
            input_token_details: { audio_tokens: Math.ceil(text.length / 2), text_tokens: 0 },
          },
        });
      };
      const delayMs = opts.transcriptionDelayMs ?? 0;
      const transcribeLater = () => later(delayMs, transcribe);
      if (respond && !active) {
        startResponse(
          "turn",
          undefined,
          undefined,
          opts.lateTranscription ? { onDone: transcribeLater } : { onCreated: transcribeLater },
        );
        return;
      }
      if (respond) {
        error(
          "conversation_already_has_active_response",
          "Conversation already has an active response in progress.",
        );
      }
      transcribeLater();
    }

    function startResponse(
      trigger: ResponseContext["trigger"],
      instructions?: string,
      metadata?: Record<string, string>,
      hooks: Pick<ActiveResponse, "onCreated" | "onDone"> = {},
    ): void {
      const lastUser = [...s.items].reverse().find((x) => x.role === "user");
      const plan = responder({
        trigger,
        sessionIndex: s.index,
        session: s,
        items: s.items,
        lastItem: s.items.at(-1),
        lastUserText: lastUser?.text,
        instructions,
      });
      // History re-injected into a fresh session (system or assistant messages created
      // before its first response) can make the model answer in text only.
      const textOnly = opts.textOnlyAfterReinjection === true && s.responses.length === 0 &&
        s.items.some((x) =>
          x.origin === "client" && x.type === "message" &&
          (x.role === "system" || x.role === "assistant")
        );
      const resp: ActiveResponse = {
        id: nextId("resp"),
        cancelled: false,
        metadata,
        textOnly,
        ...hooks,
      };
      s.responses.push({ id: resp.id });
      active = resp;
      const p = streamResponse(resp, plan).catch((err) => {
        console.error("fake realtime: response stream failed", err);
      }).finally(() => {
        if (active === resp) active = null;
        running.delete(p);
        resp.onDone?.();
      });
      running.add(p);
    }

    async function streamResponse(resp: ActiveResponse, plan: ScriptedResponse): Promise<void> {
      const base = { object: "realtime.response", id: resp.id, metadata: resp.metadata ?? null };
      send("response.created", { response: { ...base, status: "in_progress", output: [] } });
      resp.onCreated?.();
      if (opts.unknownEvents) {
        send("response.future_feature.added", { response_id: resp.id, detail: { level: 1 } });
      }
      const output: Record<string, unknown>[] = [];
      const emitCalls = (calls: { name: string; arguments: string }[], firstIndex: number) =>
        calls.forEach((fc, i) => {
          const outputIndex = firstIndex + i;
          const prev = lastItemId();
          const item: FakeItem = {
            id: nextId("item"),
            type: "function_call",
            origin: "response",
            callId: nextId("call"),
            name: fc.name,
            arguments: fc.arguments,
            audioMs: 0,
          };
          s.items.push(item);
          const ids = { response_id: resp.id, output_index: outputIndex };
          const inProgress = { ...itemView(item), arguments: "", status: "in_progress" };
          send("response.output_item.added", { ...ids, item: inProgress });
          send("conversation.item.added", { previous_item_id: prev, item: inProgress });
          send("response.function_call_arguments.delta", {
            ...ids,
            item_id: item.id,
            call_id: item.callId,
            delta: fc.arguments,
          });
          send("response.function_call_arguments.done", {
            ...ids,
            item_id: item.id,
            call_id: item.callId,
            ...(opts.omitFunctionCallName ? {} : { name: fc.name }),
            arguments: fc.arguments,
          });
          send("response.output_item.done", { ...ids, item: itemView(item) });
          send("conversation.item.done", { previous_item_id: prev, item: itemView(item) });
          output.push(itemView(item));
        });
      if ("functionCalls" in plan) {
        emitCalls(plan.functionCalls, 0);
        await sleep(0);
        send("response.done", { response: { ...base, status: "completed", output } });
        return;
      }

      if (resp.textOnly) return streamText(resp, plan, base);

      audioOutputStarted = true;
      const { item, ids, partIds, prev, inProgress } = openAssistantMessage(resp, "");
      send("response.content_part.added", {
        ...partIds,
        part: { type: "audio", transcript: "" },
      });
      const fmt = cfg().audio.output.format.type;
      const voice = plan.pcm8k && (fmt === "audio/pcm" ? upsample8kTo24k(plan.pcm8k) : plan.pcm8k);
      const words = plan.transcript.split(/(?<= )/);
      let wordsSent = 0;
      let said = "";
      let sentMs = 0;
      while (sentMs < plan.audioMs) {
        if (resp.cancelled || ws.readyState !== WebSocket.OPEN) break;
        const ms = Math.min(chunkMs, plan.audioMs - sentMs);
        send("response.output_audio.delta", {
          ...partIds,
          delta: toneChunk(fmt, ms, sentMs, voice),
        });
        sentMs += ms;
        item.audioMs = sentMs;
        const due = Math.ceil((words.length * sentMs) / plan.audioMs);
        while (wordsSent < due) {
          const w = words[wordsSent++];
          said += w;
          item.text += w;
          send("response.output_audio_transcript.delta", { ...partIds, delta: w });
        }
        if (plan.dropAfterMs !== undefined && sentMs >= plan.dropAfterMs) {
          closeSocket(ws, 1011, "upstream connect error");
          return;
        }
        await sleep(chunkIntervalMs);
      }
      if (ws.readyState !== WebSocket.OPEN) return;
      // A cancelled response closes its audio, transcript, part and item like a finished
      // one (with what was sent so far, the item `incomplete`), then reports `cancelled`.
      const transcript = resp.cancelled ? said : plan.transcript;
      // A truncation the client sent meanwhile already dropped the item's transcript.
      if (item.truncatedMs === undefined) item.text = transcript;
      send("response.output_audio.done", partIds);
      send("response.output_audio_transcript.done", { ...partIds, transcript });
      const part = { type: "audio", transcript };
      send("response.content_part.done", { ...partIds, part });
      const done = {
        ...inProgress,
        status: resp.cancelled ? "incomplete" : "completed",
        content: [{ type: "output_audio", transcript }],
      };
      send("response.output_item.done", { ...ids, item: done });
      send("conversation.item.done", { previous_item_id: prev, item: done });
      output.push(done);
      if (resp.cancelled) {
        send("response.done", {
          response: {
            ...base,
            status: "cancelled",
            status_details: { type: "cancelled", reason: resp.cancelled },
            output,
          },
        });
        return;
      }
      if (plan.thenCall) emitCalls(plan.thenCall, 1);
      send("response.done", { response: { ...base, status: "completed", output } });
    }

    /**
     * Opens the response's assistant message: the item on record, then
     * `response.output_item.added` and `conversation.item.added` with it in progress.
     */
    function openAssistantMessage(resp: ActiveResponse, text: string) {
      const prev = lastItemId();
      const item: FakeItem = {
        id: nextId("item"),
        type: "message",
        role: "assistant",
        origin: "response",
        text,
        audioMs: 0,
      };
      s.items.push(item);
      s.responses.find((r) => r.id === resp.id)!.itemId = item.id;
      const ids = { response_id: resp.id, output_index: 0 };
      const partIds = { ...ids, item_id: item.id, content_index: 0 };
      const inProgress = {
        id: item.id,
        object: "realtime.item",
        type: "message",
        role: "assistant",
        status: "in_progress",
        content: [],
      };
      send("response.output_item.added", { ...ids, item: inProgress });
      send("conversation.item.added", { previous_item_id: prev, item: inProgress });
      return { item, ids, partIds, prev, inProgress };
    }

    /** A reply in text only (no audio): the transcript as `output_text`. */
    async function streamText(
      resp: ActiveResponse,
      plan: Extract<ScriptedResponse, { transcript: string }>,
      base: Record<string, unknown>,
    ): Promise<void> {
      const { ids, partIds, prev, inProgress } = openAssistantMessage(resp, plan.transcript);
      send("response.content_part.added", { ...partIds, part: { type: "text", text: "" } });
      send("response.output_text.delta", { ...partIds, delta: plan.transcript });
      await sleep(chunkIntervalMs);
      if (ws.readyState !== WebSocket.OPEN) return;
      send("response.output_text.done", { ...partIds, text: plan.transcript });
      send("response.content_part.done", {
        ...partIds,
        part: { type: "text", text: plan.transcript },
      });
      const done = {
        ...inProgress,
        status: "completed",
        content: [{ type: "output_text", text: plan.transcript }],
      };
      send("response.output_item.done", { ...ids, item: done });
      send("conversation.item.done", { previous_item_id: prev, item: done });
      send("response.done", {
        response: { ...base, status: "completed", output_modalities: ["text"], output: [done] },
      });
    }
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    onListen: () => {},
  }, (req) => {
    const url = new URL(req.url);
    if (url.pathname !== "/v1/realtime") return new Response("not found", { status: 404 });
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    // Headers are unreadable once the request is upgraded: copy them first.
    const headers = new Headers(req.headers);
    const { socket, response } = Deno.upgradeWebSocket(req);
    const reject = (code: string, message: string, closeCode: number) => {
      rejected.push({ code, url: req.url });
      socket.onopen = () => {
        socket.send(JSON.stringify({
          type: "error",
          event_id: nextId("event"),
          error: { type: "invalid_request_error", code, message, param: null, event_id: null },
        }));
        socket.close(closeCode, `invalid_request_error.${code}`);
      };
      return response;
    };
    if (headers.has("openai-beta")) {
      return reject(
        "beta_api_shape_disabled",
        "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.",
        FATAL_CLOSE.beta,
      );
    }
    if (headers.get("authorization") !== `Bearer ${apiKey}`) {
      return reject("invalid_api_key", "Incorrect API key provided.", FATAL_CLOSE.auth);
    }
    const model = url.searchParams.get("model");
    if (model === null || !models.has(model)) {
      return reject(
        "model_not_found",
        `The model '${model}' does not exist or you do not have access to it.`,
        FATAL_CLOSE.auth,
      );
    }
    const s: FakeSession = {
      index: sessions.length,
      id: nextId("sess"),
      url: req.url,
      headers,
      clientEvents: [],
      serverEvents: [],
      errors: [],
      responses: [],
      config: defaultConfig(model, ttlMs),
      items: [],
      inputMs: 0,
      outOfBand: [],
      closed: false,
    };
    sessions.push(s);
    sockets.set(s, socket);
    socket.onopen = () => handleSocket(socket, s);
    return response;
  });

  const addr = server.addr as Deno.NetAddr;
  return Promise.resolve({
    url: `ws://127.0.0.1:${addr.port}/v1/realtime`,
    sessions,
    rejected,
    setResponder(fn) {
      responder = fn;
    },
    setOutOfBand(fn) {
      outOfBand = fn;
    },
    inject(sessionIndex, text) {
      for (const [s, ws] of sockets) {
        if (s.index === sessionIndex && ws.readyState === WebSocket.OPEN) ws.send(text);
      }
    },
    dropConnection(sessionIndex) {
      for (const [s, ws] of sockets) {
        if (sessionIndex === undefined || s.index === sessionIndex) {
          closeSocket(ws, 1011, "upstream connect error");
        }
      }
    },
    async waitFor(predicate, timeoutMs = 3000, what = "condition") {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`fake realtime: timed out waiting for ${what}`);
        await sleep(5);
      }
    },
    async close() {
      for (const ws of sockets.values()) closeSocket(ws, 1001, "server shutting down");
      for (const s of sessions) s.closed = true;
      await Promise.all([...running]);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await server.shutdown();
    },
  });
}

// ---------------------------------------------------------------------------------------

interface ConfigShape {
  audio: {
    input: {
      format: { type: string };
      transcription: { model: string } | null;
      turn_detection:
        | {
          type: "server_vad";
          threshold?: number;
          prefix_padding_ms?: number;
          silence_duration_ms?: number;
          create_response?: boolean;
          interrupt_response?: boolean;
        }
        | { type: "semantic_vad"; create_response?: boolean; interrupt_response?: boolean }
        | null;
    };
    output: { format: { type: string }; voice: string };
  };
}

function defaultConfig(model: string, ttlMs: number): Record<string, unknown> {
  return {
    type: "realtime",
    object: "realtime.session",
    model,
    expires_at: Math.floor((Date.now() + ttlMs) / 1000),
    output_modalities: ["audio"],
    instructions: "",
    audio: {
      input: {
        format: { type: "audio/pcm", rate: 24000 },
        transcription: null,
        noise_reduction: null,
        turn_detection: {
          type: "server_vad",
          threshold: 0.5,
          prefix_padding_ms: 300,
          silence_duration_ms: 200,
          create_response: true,
          interrupt_response: true,
        },
      },
      output: { format: { type: "audio/pcm", rate: 24000 }, voice: "alloy", speed: 1 },
    },
    tools: [],
    tool_choice: "auto",
  };
}

function sessionView(s: FakeSession): Record<string, unknown> {
  return { id: s.id, ...structuredClone(s.config) };
}

function itemView(item: FakeItem): Record<string, unknown> {
  const base = { id: item.id, object: "realtime.item", type: item.type, status: "completed" };
  if (item.type === "function_call") {
    return { ...base, call_id: item.callId, name: item.name, arguments: item.arguments };
  }
  if (item.type === "function_call_output") {
    return { ...base, call_id: item.callId, output: item.output };
  }
  const type = item.role === "assistant" ? "output_text" : "input_text";
  return { ...base, role: item.role, content: [{ type, text: item.text ?? "" }] };
}

/** Merges a session.update into the config: objects merge, everything else replaces. */
function deepMerge(
  base: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] = isPlainObject(v) && isPlainObject(b) && !("type" in v && v.type !== b.type)
      ? deepMerge(b, v)
      : structuredClone(v);
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function pcm16FromBytes(bytes: Uint8Array): Int16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/**
 * `ms` of a 440 Hz tone (or of `voice`, PCM16 at the format's rate) starting at
 * `offsetMs`, base64 in the output format.
 */
function toneChunk(format: string, ms: number, offsetMs: number, voice?: Int16Array): string {
  const rate = format === "audio/pcm" ? 24000 : 8000;
  const n = Math.round((rate * ms) / 1000);
  const start = Math.round((rate * offsetMs) / 1000);
  const pcm = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    pcm[i] = voice
      ? voice[start + i] ?? 0
      : Math.round(6000 * Math.sin(2 * Math.PI * 440 * (start + i) / rate));
  }
  if (format === "audio/pcm") {
    const bytes = new Uint8Array(n * 2);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) view.setInt16(i * 2, pcm[i], true);
    return bytes.toBase64();
  }
  return encodeMulaw(pcm).toBase64();
}

function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
    ws.close(code, reason);
  }
}

// ---------------------------------------------------------------------------------------
// Out-of-band responses (`response.create` with `conversation: "none"`)
//
// What the GA API documents (openai `realtime.d.ts`, `RealtimeResponseCreateParams`): an
// out-of-band response writes nothing to the default conversation and may run while a
// default-conversation response is active; `input` replaces the context with the given
// items and references (`{type: "item_reference", id}`) to items of the conversation;
// `output_modalities` is `["text"]` or `["audio"]`; `metadata` has at most 16 keys of at
// most 64 characters, values of at most 512. The fake answers in text only: its events
// carry `conversation_id: null` and no `conversation.item.*` events.
// ---------------------------------------------------------------------------------------

/** An out-of-band response the fake was asked for. */
export interface OutOfBandRecord {
  /** The response id, once it was accepted (undefined when refused). */
  id?: string;
  /** The client event id of the request. */
  eventId?: string;
  metadata?: Record<string, string>;
  instructions?: string;
  /** Ids the input referenced. */
  references: string[];
  /** How it ended: answered (`completed`), refused by validation, or dropped with the socket. */
  status: "in_progress" | "completed" | "refused" | "dropped";
  /** The text answered. */
  text?: string;
}

/** What an out-of-band responder sees. */
export interface OutOfBandContext {
  session: FakeSession;
  instructions?: string;
  metadata?: Record<string, string>;
  /** The context: referenced items (resolved) and inline items, in order. */
  input: readonly FakeItem[];
}

/**
 * What the fake does with an out-of-band request: answer with text (after `delayMs`, a
 * slow model), or drop the socket.
 */
export type OutOfBandPlan = { text: string; delayMs?: number } | { drop: true };

/** Decides each out-of-band answer. */
export type OutOfBandResponder = (ctx: OutOfBandContext) => OutOfBandPlan;

/** What the out-of-band section needs from one connection of the fake. */
interface OutOfBandWire {
  session: FakeSession;
  send(type: string, payload?: Record<string, unknown>): void;
  error(code: string, message: string, param?: string | null, clientEventId?: string): void;
  open(): boolean;
  drop(): void;
  sleep(ms: number): Promise<void>;
  track(p: Promise<void>): void;
  responder(): OutOfBandResponder;
}

type OutOfBandParams = NonNullable<Extract<ClientEventT, { type: "response.create" }>["response"]>;

/** Validates, then answers one out-of-band request (or refuses it with an `error` event). */
function outOfBandResponse(w: OutOfBandWire, r: OutOfBandParams, evId: string | undefined): void {
  const s = w.session;
  const record: OutOfBandRecord = {
    eventId: evId,
    metadata: r.metadata,
    instructions: r.instructions,
    references: (r.input ?? []).flatMap((i) => i.type === "item_reference" ? [i.id] : []),
    status: "in_progress",
  };
  s.outOfBand.push(record);
  const refuse = (message: string, param: string) => {
    record.status = "refused";
    w.error("invalid_value", message, param, evId);
  };
  const modalities = r.output_modalities;
  if (
    modalities &&
    (modalities.length !== 1 || (modalities[0] !== "text" && modalities[0] !== "audio"))
  ) {
    return refuse(
      `Invalid 'response.output_modalities': expected ["text"] or ["audio"].`,
      "response.output_modalities",
    );
  }
  if (modalities?.[0] === "audio") {
    return refuse(
      "The fake answers out-of-band responses in text only.",
      "response.output_modalities",
    );
  }
  const meta = Object.entries(r.metadata ?? {});
  if (meta.length > 16 || meta.some(([k, v]) => k.length > 64 || v.length > 512)) {
    return refuse(
      "Invalid 'response.metadata': at most 16 keys (64 characters), values of at most 512.",
      "response.metadata",
    );
  }
  const input: FakeItem[] = [];
  for (const [i, it] of (r.input ?? s.items).entries()) {
    if ("origin" in it) {
      input.push(it); // no input: the default conversation is the context
    } else if (it.type === "item_reference") {
      const item = s.items.find((x) => x.id === it.id);
      if (!item) return refuse(`Item with id '${it.id}' not found.`, `response.input[${i}].id`);
      input.push(item);
    } else {
      input.push({
        id: it.id ?? nextId("item"),
        type: it.type,
        origin: "client",
        audioMs: 0,
        ...(it.type === "message"
          ? { role: it.role, text: it.content.map((c) => c.text).join("") }
          : it.type === "function_call"
          ? { callId: it.call_id, name: it.name, arguments: it.arguments }
          : { callId: it.call_id, output: it.output }),
      });
    }
  }
  const plan = w.responder()({
    session: s,
    instructions: r.instructions,
    metadata: r.metadata,
    input,
  });
  const p = streamOutOfBand(w, record, plan, r.metadata ?? {}).catch((err) =>
    console.error("fake realtime: out-of-band response failed", err)
  );
  w.track(p);
}

async function streamOutOfBand(
  w: OutOfBandWire,
  record: OutOfBandRecord,
  plan: OutOfBandPlan,
  metadata: Record<string, string>,
): Promise<void> {
  const id = nextId("resp");
  record.id = id;
  const base = {
    object: "realtime.response",
    id,
    conversation_id: null,
    output_modalities: ["text"],
    metadata,
  };
  w.send("response.created", { response: { ...base, status: "in_progress", output: [] } });
  await w.sleep(1);
  if ("drop" in plan) {
    record.status = "dropped";
    w.drop();
    return;
  }
  // A slow model; stops waiting when the socket closes (the fake's close() awaits this).
  for (let waited = 0; waited < (plan.delayMs ?? 0) && w.open(); waited += 50) await w.sleep(50);
  if (!w.open()) return void (record.status = "dropped");
  const itemId = nextId("item");
  const ids = { response_id: id, output_index: 0 };
  const partIds = { ...ids, item_id: itemId, content_index: 0 };
  const item = {
    id: itemId,
    object: "realtime.item",
    type: "message",
    role: "assistant",
    status: "in_progress",
    content: [] as unknown[],
  };
  w.send("response.output_item.added", { ...ids, item });
  w.send("response.content_part.added", { ...partIds, part: { type: "text", text: "" } });
  for (let at = 0; at < plan.text.length; at += 200) {
    if (!w.open()) return void (record.status = "dropped");
    w.send("response.output_text.delta", { ...partIds, delta: plan.text.slice(at, at + 200) });
    await w.sleep(1);
  }
  if (!w.open()) return void (record.status = "dropped");
  w.send("response.output_text.done", { ...partIds, text: plan.text });
  w.send("response.content_part.done", { ...partIds, part: { type: "text", text: plan.text } });
  const done = {
    ...item,
    status: "completed",
    content: [{ type: "output_text", text: plan.text }],
  };
  w.send("response.output_item.done", { ...ids, item: done });
  w.send("response.done", { response: { ...base, status: "completed", output: [done] } });
  record.status = "completed";
  record.text = plan.text;
}

/**
 * The default out-of-band answer: the after-call summary JSON the service asks for, with
 * the claims a truthful model would extract from the tool results in its context
 * (confirmed bookings, cancellations, reschedules).
 */
export const honestSummary: OutOfBandResponder = (ctx) => {
  const claims: Record<string, unknown>[] = [];
  for (const item of ctx.input) {
    if (item.type !== "function_call_output" || !item.output) continue;
    const call = ctx.input.find((c) => c.type === "function_call" && c.callId === item.callId);
    let out: Record<string, unknown>;
    try {
      out = JSON.parse(item.output);
    } catch {
      continue;
    }
    const start = typeof out.start === "string" ? out.start : "";
    const when = { date: start.slice(0, 10), time: start.slice(11, 16) };
    if (call?.name === "book_slot" && out.status === "confirmed") {
      claims.push({ type: "booking", service: out.service, ...when });
    } else if (call?.name === "cancel_booking" && out.status === "cancelled") {
      claims.push({
        type: "cancellation",
        reference: out.booking_id,
        service: out.service,
        ...when,
      });
    } else if (call?.name === "reschedule_booking" && out.status === "rescheduled") {
      claims.push({ type: "reschedule", reference: out.booking_id, service: out.service, ...when });
    }
  }
  const booked = claims.some((c) => c.type === "booking");
  return {
    text: JSON.stringify({
      summary: booked
        ? "The caller asked for an appointment and the receptionist booked it."
        : "The caller talked with the receptionist; nothing was booked.",
      intent: booked ? "book an appointment" : "enquiry",
      outcome: booked ? "booked" : "no booking",
      follow_up: { needed: false, reason: null },
      claims,
    }),
  };
};

/**
 * An event as a newer server might send it: an unknown field on the event and on its
 * item or response (clients must ignore both).
 */
function withUnknownFields(event: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...event, x_future_field: { since: "2027-01" } };
  for (const key of ["item", "response", "session"]) {
    const v = out[key];
    if (isPlainObject(v)) out[key] = { ...v, x_future_field: true };
  }
  return out;
}
