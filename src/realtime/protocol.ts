/**
 * The OpenAI Realtime (GA) wire protocol: zod schemas for the server events this service
 * consumes, a cheap parser for them, and typed builders for every client event it sends.
 *
 * Builders return the JSON text ready for `WebSocket.send`, so the hot path
 * (`appendAudio`, ~50 times a second per call) is a single string concatenation.
 *
 * @example
 * ```ts
 * import { appendAudio, parseServerEvent } from "./protocol.ts";
 * declare const ws: WebSocket;
 * declare const base64Mulaw: string;
 * declare const text: string; // a message from the model
 * declare function forward(base64Audio: string): void;
 * ws.send(appendAudio(base64Mulaw));
 * const parsed = parseServerEvent(text);
 * if (parsed.ok && parsed.event.type === "response.output_audio.delta") forward(parsed.event.delta);
 * ```
 *
 * @module
 */
import { z } from "zod";
import type { SessionConfig } from "./session_config.ts";

// ---------------------------------------------------------------------------------------
// Server events
// ---------------------------------------------------------------------------------------

// Lenient where the official SDK's types are optional (`openai` realtime.d.ts): an event
// the server may legally send must never be dropped as malformed, or a call could wedge.

const ContentPartSchema = z.looseObject({
  type: z.string().optional(),
  text: z.string().nullish(),
  transcript: z.string().nullish(),
});

/** A conversation item as the server reports it (message, function call, or its output). */
export const ServerItemSchema = z.looseObject({
  id: z.string().optional(),
  type: z.string(),
  role: z.string().optional(),
  status: z.string().optional(),
  call_id: z.string().optional(),
  name: z.string().optional(),
  arguments: z.string().optional(),
  output: z.string().optional(),
  content: z.array(ContentPartSchema).optional(),
});
/** A conversation item as reported by the server. */
export type ServerItem = z.infer<typeof ServerItemSchema>;

const SessionInfoSchema = z.looseObject({
  id: z.string().optional(),
  model: z.string().optional(),
  /** Unix seconds at which the session ends (at most 60 minutes after creation). */
  expires_at: z.number().optional(),
});

const ResponseInfoSchema = z.looseObject({
  id: z.string().optional(),
  status: z.string().optional(),
  metadata: z.record(z.string(), z.string()).nullish(),
  /** null for an out-of-band response (`conversation: "none"`), an id otherwise. */
  conversation_id: z.string().nullish(),
  status_details: z.unknown().optional(),
  output: z.array(ServerItemSchema).optional(),
  usage: z.unknown().optional(),
});

const ErrorDetailSchema = z.looseObject({
  type: z.string(),
  code: z.string().nullish(),
  message: z.string(),
  param: z.string().nullish(),
  event_id: z.string().nullish(),
});

const ev = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.looseObject({ type: z.literal(type), event_id: z.string().optional(), ...shape });

const AudioDeltaSchema = ev("response.output_audio.delta", {
  response_id: z.string(),
  item_id: z.string(),
  content_index: z.number().int().optional(),
  delta: z.string(),
});

const ItemAddedSchema = ev("conversation.item.added", {
  item: ServerItemSchema,
  previous_item_id: z.string().nullish(),
});

/** Schemas of every server event this service consumes, discriminated on `type`. */
export const ServerEventSchema = z.discriminatedUnion("type", [
  ev("error", { error: ErrorDetailSchema }),
  ev("session.created", { session: SessionInfoSchema }),
  ev("session.updated", { session: SessionInfoSchema }),
  ev("input_audio_buffer.speech_started", {
    audio_start_ms: z.number().int(),
    item_id: z.string(),
  }),
  ev("input_audio_buffer.speech_stopped", { audio_end_ms: z.number().int(), item_id: z.string() }),
  ev("input_audio_buffer.committed", {
    item_id: z.string(),
    previous_item_id: z.string().nullish(),
  }),
  ev("input_audio_buffer.cleared", {}),
  ev("input_audio_buffer.timeout_triggered", {
    audio_start_ms: z.number().int(),
    audio_end_ms: z.number().int(),
    item_id: z.string(),
  }),
  ItemAddedSchema,
  ev("conversation.item.done", { item: ServerItemSchema, previous_item_id: z.string().nullish() }),
  ev("conversation.item.truncated", {
    item_id: z.string(),
    content_index: z.number().int(),
    audio_end_ms: z.number().int(),
  }),
  ev("conversation.item.deleted", { item_id: z.string() }),
  ev("conversation.item.input_audio_transcription.delta", {
    item_id: z.string(),
    delta: z.string().optional(),
  }),
  ev("conversation.item.input_audio_transcription.completed", {
    item_id: z.string(),
    transcript: z.string(),
  }),
  ev("conversation.item.input_audio_transcription.failed", {
    item_id: z.string(),
    error: z.looseObject({ message: z.string().optional(), code: z.string().nullish() }),
  }),
  ev("response.created", { response: ResponseInfoSchema }),
  ev("response.done", { response: ResponseInfoSchema }),
  ev("response.output_item.added", { response_id: z.string(), item: ServerItemSchema }),
  ev("response.output_item.done", { response_id: z.string(), item: ServerItemSchema }),
  ev("response.content_part.added", { response_id: z.string(), item_id: z.string() }),
  ev("response.content_part.done", { response_id: z.string(), item_id: z.string() }),
  AudioDeltaSchema,
  ev("response.output_audio.done", { response_id: z.string(), item_id: z.string() }),
  ev("response.output_audio_transcript.delta", {
    response_id: z.string(),
    item_id: z.string(),
    delta: z.string(),
  }),
  ev("response.output_audio_transcript.done", {
    response_id: z.string(),
    item_id: z.string(),
    transcript: z.string(),
  }),
  ev("response.function_call_arguments.delta", {
    response_id: z.string(),
    item_id: z.string(),
    call_id: z.string(),
    delta: z.string(),
  }),
  ev("response.function_call_arguments.done", {
    response_id: z.string(),
    item_id: z.string(),
    call_id: z.string(),
    /** Only since 2026-02; calls are taken from `response.output_item.done`, which has it. */
    name: z.string().optional(),
    arguments: z.string(),
  }),
  ev("rate_limits.updated", { rate_limits: z.array(z.unknown()) }),
]);

/** A parsed server event. `conversation.item.created` (older servers) arrives as `.added`. */
export type ServerEvent = z.infer<typeof ServerEventSchema>;
/** The type tags of the server events this service consumes. */
export type ServerEventType = ServerEvent["type"];
/** The most frequent server event: one chunk of model audio, base64 in the output format. */
export type AudioDeltaEvent = z.infer<typeof AudioDeltaSchema>;
/** The server's `error` event. */
export type ErrorEvent = Extract<ServerEvent, { type: "error" }>;

const KNOWN_TYPES: ReadonlySet<string> = new Set(
  ServerEventSchema.options.map((o) => o.shape.type.value),
);

/** Why a server message could not be turned into a {@linkcode ServerEvent}. */
export type ParseFailure = {
  ok: false;
  /** `unknown_type`: valid JSON with a type this service does not consume (count, ignore). */
  reason: "invalid_json" | "unknown_type" | "malformed";
  /** The event's `type`, when it had one. */
  type?: string;
  /** Human-readable detail for the log line. */
  message: string;
};

/** Result of {@linkcode parseServerEvent}. */
export type ParseResult = { ok: true; event: ServerEvent } | ParseFailure;

/**
 * Parses one server text frame. Audio deltas take a fast path that checks only the fields
 * the bridge uses (no zod), everything else is validated by {@linkcode ServerEventSchema}.
 * (A hand-written scanner for deltas was tried: once it refused what `JSON.parse` refuses,
 * control characters included, it was no faster than `JSON.parse`; see BENCHMARKS.md.)
 * `conversation.item.created` is accepted and reported as `conversation.item.added`.
 */
export function parseServerEvent(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: "invalid_json", message: String(err) };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: "malformed", message: "event is not a JSON object" };
  }
  const obj = raw as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== "string") {
    return { ok: false, reason: "malformed", message: "event has no string `type`" };
  }
  if (type === "response.output_audio.delta") {
    if (
      typeof obj.delta === "string" && typeof obj.item_id === "string" &&
      typeof obj.response_id === "string"
    ) {
      return { ok: true, event: obj as AudioDeltaEvent };
    }
    return { ok: false, reason: "malformed", type, message: "audio delta lacks delta/item_id" };
  }
  if (type === "conversation.item.created") obj.type = "conversation.item.added";
  else if (!KNOWN_TYPES.has(type)) {
    return { ok: false, reason: "unknown_type", type, message: `unknown event type ${type}` };
  }
  const parsed = ServerEventSchema.safeParse(obj);
  if (!parsed.success) {
    return { ok: false, reason: "malformed", type, message: z.prettifyError(parsed.error) };
  }
  return { ok: true, event: parsed.data };
}

// ---------------------------------------------------------------------------------------
// Client events
// ---------------------------------------------------------------------------------------

/** A conversation item the client creates (text message, function call, or its output). */
export type ConversationItemInput =
  | {
    type: "message";
    role: "user" | "system";
    content: { type: "input_text"; text: string }[];
    id?: string;
  }
  | {
    type: "message";
    role: "assistant";
    content: { type: "output_text"; text: string }[];
    id?: string;
  }
  | { type: "function_call"; call_id: string; name: string; arguments: string; id?: string }
  | { type: "function_call_output"; call_id: string; output: string; id?: string };

/** Optional parameters of `response.create`. */
export interface ResponseCreateOptions {
  /**
   * Instructions for this response only. The server REPLACES the session instructions with
   * them for this response, so the connection sends them after the session's own.
   */
  instructions?: string;
  /** Whether the model may, must or must not call tools in this response. */
  tool_choice?: "auto" | "none" | "required";
  /** Free-form tags echoed back in `response.done`. */
  metadata?: Record<string, string>;
}

// Every builder takes the client `event_id` (optional): the server echoes it in the
// `error` event an event causes, the only way to know which request was refused.

/** `session.update` with the full GA session object. */
export function sessionUpdate(session: SessionConfig, eventId?: string): string {
  return JSON.stringify({ type: "session.update", event_id: eventId, session });
}

/**
 * `input_audio_buffer.append`. Built by concatenation: base64 and our event ids never need
 * JSON escaping. Called for every 20 ms frame, so it must stay allocation-light.
 */
export function appendAudio(base64: string, eventId?: string): string {
  return eventId === undefined
    ? '{"type":"input_audio_buffer.append","audio":"' + base64 + '"}'
    : '{"type":"input_audio_buffer.append","event_id":"' + eventId + '","audio":"' + base64 +
      '"}';
}

/** `input_audio_buffer.commit` (only needed without turn detection). */
export function commitAudio(eventId?: string): string {
  return JSON.stringify({ type: "input_audio_buffer.commit", event_id: eventId });
}

/** `input_audio_buffer.clear`: discard uncommitted input audio. */
export function clearAudio(eventId?: string): string {
  return JSON.stringify({ type: "input_audio_buffer.clear", event_id: eventId });
}

/** `conversation.item.create`, optionally placed after `previousItemId`. */
export function createItem(
  item: ConversationItemInput,
  previousItemId?: string,
  eventId?: string,
): string {
  return JSON.stringify({
    type: "conversation.item.create",
    event_id: eventId,
    previous_item_id: previousItemId,
    item,
  });
}

/** The item for a tool result; send {@linkcode responseCreate} after it. */
export function functionCallOutputItem(callId: string, output: string): ConversationItemInput {
  return { type: "function_call_output", call_id: callId, output };
}

/** `conversation.item.create` carrying a tool result (`output` is usually JSON text). */
export function functionCallOutput(callId: string, output: string, eventId?: string): string {
  return createItem(functionCallOutputItem(callId, output), undefined, eventId);
}

/** A user text message item. */
export function userTextItem(text: string): ConversationItemInput {
  return { type: "message", role: "user", content: [{ type: "input_text", text }] };
}

/** A system text message item (an instruction mid-conversation). */
export function systemTextItem(text: string): ConversationItemInput {
  return { type: "message", role: "system", content: [{ type: "input_text", text }] };
}

/** `conversation.item.create` with a user text message. */
export function userText(text: string, eventId?: string): string {
  return createItem(userTextItem(text), undefined, eventId);
}

/** `conversation.item.create` with a system text message. */
export function systemText(text: string, eventId?: string): string {
  return createItem(systemTextItem(text), undefined, eventId);
}

/**
 * `conversation.item.truncate`: the caller heard only `audioEndMs` of this assistant item.
 * Must be an integer no larger than the item's audio; the value is floored and clamped at 0.
 */
export function truncate(itemId: string, audioEndMs: number, eventId?: string): string {
  return JSON.stringify({
    type: "conversation.item.truncate",
    event_id: eventId,
    item_id: itemId,
    content_index: 0,
    audio_end_ms: Math.max(0, Math.floor(audioEndMs)),
  });
}

/** `response.create`, with optional per-response parameters. */
export function responseCreate(opts?: ResponseCreateOptions, eventId?: string): string {
  const response = opts === undefined || Object.keys(opts).length === 0 ? undefined : opts;
  return JSON.stringify({ type: "response.create", event_id: eventId, response });
}

/** `response.cancel` for the active response (or the given one). */
export function responseCancel(responseId?: string, eventId?: string): string {
  return JSON.stringify({ type: "response.cancel", event_id: eventId, response_id: responseId });
}
