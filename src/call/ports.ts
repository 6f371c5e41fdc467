/**
 * What a {@linkcode Call} needs from its two sides, and nothing more: the caller's media
 * stream and the model session. `TwilioStream` and `RealtimeConnection` satisfy these;
 * the call's unit tests use small in-memory fakes instead, in virtual time.
 *
 * @module
 */
import type { StreamListener } from "../twilio/media_stream.ts";
import type {
  BusyPolicy,
  CloseReason,
  ConnectionEvents,
  ConnectionState,
  ConnectionStats,
  ResponseRequest,
} from "../realtime/connection.ts";
import type { LogEntry } from "../realtime/conversation_log.ts";
import type { ResponseCreateOptions } from "../realtime/protocol.ts";

export type { StreamListener };

/** The caller's side: a started Twilio media stream. */
export interface CallerStream {
  /** True once the socket closed (the caller or Twilio ended it, or we did). */
  readonly closed: boolean;
  /** Counters kept in the call record. */
  readonly counters: unknown;
  /** Set when the stream was ended from this side because of the peer (no media, a flood). */
  readonly endedBy?: string;
  /** Becomes the stream's one consumer; held events are delivered at once. */
  attach(listener: StreamListener): void;
  /** Sends mu-law audio; false when it could not be sent. */
  sendAudio(mulaw: Uint8Array): boolean;
  /** Sends mu-law audio given as strict base64 (passed on as is); false when it could not be sent. */
  sendAudioBase64(mulawBase64: string): boolean;
  /** Sends a named mark (Twilio echoes it once the audio before it has played). */
  mark(name: string): boolean;
  /** Drops the audio Twilio has buffered (barge-in). */
  clear(): boolean;
  /** Closes the socket (Twilio then runs the TwiML after `</Connect>`). */
  close(code?: number, reason?: string): void;
}

/** The model's side: one Realtime session (with its reconnects). */
export interface ModelSession {
  readonly state: ConnectionState;
  readonly closeReason: CloseReason | undefined;
  /** Whether a response is in progress or requested. */
  readonly responseActive: boolean;
  readonly stats: Readonly<ConnectionStats>;
  /** Bytes queued in the model socket and not yet sent (a slow or stuck link grows it). */
  readonly bufferedAmount: number;
  /** The conversation so far (transcripts, what was heard). */
  readonly conversation: { readonly entries: readonly LogEntry[] };
  /** Opens the session (only in state `idle`). */
  connect(): Promise<void>;
  /** Subscribes to server events, state changes and session starts. */
  on<K extends keyof ConnectionEvents>(
    name: K,
    fn: (...args: ConnectionEvents[K]) => void,
  ): () => void;
  appendAudio(base64: string): void;
  sendFunctionOutput(callId: string, output: string): boolean;
  sendUserText(text: string): boolean;
  sendSystemText(text: string): boolean;
  /** Asks for a response; `policy` says what to do when one is in progress. */
  createResponse(options?: ResponseCreateOptions, policy?: BusyPolicy): ResponseRequest;
  /** Truncates an assistant item to what was heard; returns the ms sent, if sent. */
  truncate(itemId: string, heardMs: number): number | undefined;
  close(message?: string): void;
}

/** REST call control (absent when `TWILIO_ACCOUNT_SID` is not set). */
export interface CallControl {
  /** Redirects the call to a person; Twilio then sends `stop`. */
  transfer(callSid: string, number: string): Promise<unknown>;
  /** Ends the call; `already_ended` when Twilio says it is gone. */
  hangUp(callSid: string): Promise<"completed" | "already_ended">;
}
