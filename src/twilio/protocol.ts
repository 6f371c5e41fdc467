/**
 * Twilio Media Streams on the wire: zod schemas for every inbound message, builders for the
 * outbound ones, and the paths Twilio talks to. No sockets here; {@linkcode TwilioStream}
 * (`media_stream.ts`) carries these messages. Mirrors `realtime/protocol.ts`.
 *
 * @module
 */
import { z } from "zod";

/** Path of the incoming-call webhook. */
export const VOICE_PATH = "/twilio/voice";
/** Path of the Media Streams WebSocket endpoint. */
export const MEDIA_PATH = "/twilio/media";
/** Path of the call status callback. */
export const CALL_STATUS_PATH = "/twilio/status";
/** Path Twilio posts stream status callbacks to. */
export const STREAM_STATUS_PATH = "/twilio/stream-status";

// ---------------------------------------------------------------------------------------------
// Inbound schemas (Twilio -> server)

/** Twilio sends sequence numbers, chunks and timestamps as decimal strings. */
const numericString = z.string().regex(/^\d{1,15}$/);

/** `{"event":"connected","protocol":"Call","version":"1.0.0"}` */
export const ConnectedMessageSchema = z.object({
  event: z.literal("connected"),
  protocol: z.string(),
  version: z.string(),
});

/** The `start` object: what the stream carries and the `<Parameter>`s from the TwiML. */
export const StreamStartSchema = z.object({
  accountSid: z.string().min(1),
  streamSid: z.string().min(1),
  callSid: z.string().min(1),
  tracks: z.array(z.string()),
  customParameters: z.record(z.string(), z.string()).default({}),
  mediaFormat: z.object({
    encoding: z.string(),
    sampleRate: z.number(),
    channels: z.number(),
  }),
});

/** `start`: the first message after `connected`. */
export const StartMessageSchema = z.object({
  event: z.literal("start"),
  sequenceNumber: numericString,
  streamSid: z.string().min(1),
  start: StreamStartSchema,
});

/** `media`: base64 mu-law 8 kHz, `timestamp` in ms since the stream started. */
export const MediaMessageSchema = z.object({
  event: z.literal("media"),
  sequenceNumber: numericString,
  streamSid: z.string().min(1),
  media: z.object({
    track: z.string(),
    chunk: numericString,
    timestamp: numericString,
    payload: z.string(),
  }),
});

/** `dtmf`: one key press of the caller. */
export const DtmfMessageSchema = z.object({
  event: z.literal("dtmf"),
  sequenceNumber: numericString,
  streamSid: z.string().min(1),
  dtmf: z.object({ track: z.string(), digit: z.string().regex(/^[0-9*#A-Da-dw]$/) }),
});

/** `mark`: echo of a mark the server sent. */
export const MarkMessageSchema = z.object({
  event: z.literal("mark"),
  sequenceNumber: numericString,
  streamSid: z.string().min(1),
  mark: z.object({ name: z.string() }),
});

/** `stop`: the call ended or was redirected to other TwiML (e.g. a transfer). */
export const StopMessageSchema = z.object({
  event: z.literal("stop"),
  sequenceNumber: numericString,
  streamSid: z.string().min(1),
  stop: z.object({ accountSid: z.string(), callSid: z.string() }),
});

/** Any inbound message. */
export const InboundMessageSchema = z.discriminatedUnion("event", [
  ConnectedMessageSchema,
  StartMessageSchema,
  MediaMessageSchema,
  DtmfMessageSchema,
  MarkMessageSchema,
  StopMessageSchema,
]);

/** A parsed inbound message. */
export type InboundMessage = z.infer<typeof InboundMessageSchema>;

/** A `start` message. */
export type StartMessage = z.infer<typeof StartMessageSchema>;

/** The `start` payload plus fields the service reads from its custom parameters. */
export type StreamStart = z.infer<typeof StreamStartSchema> & {
  /** Caller number, from the `from` custom parameter (set by the voice webhook). */
  from?: string;
};

// ---------------------------------------------------------------------------------------------
// Outbound messages (server -> Twilio): exactly the documented fields.

/** Stream SIDs are `MZ` + 32 hex characters; checked once so they can be concatenated safely. */
export const STREAM_SID_PATTERN = /^MZ[0-9a-fA-F]{32}$/;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Outbound `media` exactly as Twilio accepts it (strict: extra fields are an error). */
export const OutboundMediaSchema = z.strictObject({
  event: z.literal("media"),
  streamSid: z.string().regex(STREAM_SID_PATTERN),
  media: z.strictObject({ payload: z.string().regex(BASE64) }),
});

/** Outbound `mark`. */
export const OutboundMarkSchema = z.strictObject({
  event: z.literal("mark"),
  streamSid: z.string().regex(STREAM_SID_PATTERN),
  mark: z.strictObject({ name: z.string() }),
});

/** Outbound `clear`. */
export const OutboundClearSchema = z.strictObject({
  event: z.literal("clear"),
  streamSid: z.string().regex(STREAM_SID_PATTERN),
});

/** Any outbound message. */
export const OutboundMessageSchema = z.discriminatedUnion("event", [
  OutboundMediaSchema,
  OutboundMarkSchema,
  OutboundClearSchema,
]);

/** A parsed outbound message. */
export type OutboundMessage = z.infer<typeof OutboundMessageSchema>;

/**
 * `{"event":"media","streamSid":S,"media":{"payload":B64}}` by concatenation.
 * `streamSid` must match {@linkcode STREAM_SID_PATTERN} and `payload` be base64 (not re-checked).
 */
export function buildMediaMessage(streamSid: string, payloadBase64: string): string {
  return '{"event":"media","streamSid":"' + streamSid + '","media":{"payload":"' +
    payloadBase64 + '"}}';
}

/** Mark names that need no JSON escaping (ours are `a1`, `a2`, ...). */
const PLAIN_NAME = /^[\w.:-]*$/;

/**
 * `{"event":"mark","streamSid":S,"mark":{"name":N}}` by concatenation; a name with
 * characters that may need escaping is JSON-escaped. `streamSid` as for media.
 */
export function buildMarkMessage(streamSid: string, name: string): string {
  const quoted = PLAIN_NAME.test(name) ? '"' + name + '"' : JSON.stringify(name);
  return '{"event":"mark","streamSid":"' + streamSid + '","mark":{"name":' + quoted + "}}";
}

/** `{"event":"clear","streamSid":S}` by concatenation (`streamSid` as for media). */
export function buildClearMessage(streamSid: string): string {
  return '{"event":"clear","streamSid":"' + streamSid + '"}';
}
