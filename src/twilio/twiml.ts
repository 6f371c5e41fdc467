/**
 * TwiML documents the service answers with, built by twilio's `VoiceResponse`
 * (so attribute and text escaping is the library's, not ours).
 *
 * @module
 */
// The TwiML builders alone, not the package root (which loads the whole REST client).
import MessagingResponse from "twilio/lib/twiml/MessagingResponse.js";
import VoiceResponse from "twilio/lib/twiml/VoiceResponse.js";
import { mediaStreamUrl } from "./signature.ts";
import { STREAM_STATUS_PATH } from "./protocol.ts";

/** Input of {@linkcode streamTwiml}. */
export interface StreamTwimlOptions {
  /** Public https origin, e.g. `https://voice.example.com`. */
  publicUrl: string;
  /** Delivered in `start.customParameters` (name and value under 500 chars each). */
  parameters: Record<string, string>;
}

/**
 * `<Connect><Stream url="wss://HOST/twilio/media" statusCallback=…>` with `<Parameter>`s,
 * then `<Hangup/>`: TwiML after `</Connect>` runs only once the server closes the socket.
 *
 * @example
 * ```ts
 * streamTwiml({ publicUrl: "https://voice.example.com", parameters: { callToken: "v1.x.y" } });
 * ```
 */
export function streamTwiml(options: StreamTwimlOptions): string {
  const response = new VoiceResponse();
  const stream = response.connect().stream({
    url: mediaStreamUrl(options.publicUrl),
    statusCallback: new URL(options.publicUrl).origin + STREAM_STATUS_PATH,
    statusCallbackMethod: "POST",
  });
  for (const [name, value] of Object.entries(options.parameters)) {
    if (name.length + value.length >= 500) {
      throw new RangeError(`stream parameter ${name} is too long for Twilio (500 chars max)`);
    }
    stream.parameter({ name, value });
  }
  response.hangup();
  return response.toString();
}

/** Input of {@linkcode busyTwiml}. */
export interface BusyTwimlOptions {
  /** When set, the caller is connected to this number after the apology. */
  transferNumber?: string;
  /** Override of the spoken apology. */
  message?: string;
}

/** A polite `<Say>` for when no call can be taken (draining, at capacity), plus an optional `<Dial>`. */
export function busyTwiml(options: BusyTwimlOptions = {}): string {
  const response = new VoiceResponse();
  const message = options.message ??
    (options.transferNumber
      ? "Thanks for calling. All of our lines are busy right now, so let me connect you to a colleague."
      : "Thanks for calling. All of our lines are busy right now. Please call again in a few minutes. Goodbye.");
  response.say(message);
  if (options.transferNumber) response.dial(options.transferNumber);
  return response.toString();
}

/**
 * What a caller hears when the call was answered but its media stream cannot be served
 * (e.g. an audio format the service does not handle): an apology, then a transfer if a
 * number is set, else the end of the call.
 */
export function cannotServeTwiml(options: { transferNumber?: string } = {}): string {
  return busyTwiml({
    transferNumber: options.transferNumber,
    message: options.transferNumber
      ? "Sorry, we cannot take your call on this line right now, so let me connect you to a colleague."
      : "Sorry, we cannot take your call on this line right now. Please call again later. Goodbye.",
  });
}

/** `<Response><Dial>number</Dial></Response>`: used to redirect a live call (transfer). */
export function transferTwiml(number: string): string {
  const response = new VoiceResponse();
  response.dial(number);
  return response.toString();
}

/** Input of {@linkcode sayAndHangUpTwiml}. */
export interface SayOptions {
  /** Twilio `<Say language>`, e.g. `en-US`. */
  language?: string;
  /** Say it this many times (e.g. twice on a voicemail). */
  loop?: number;
}

/**
 * `<Say>message</Say><Hangup/>`: a message read by Twilio's text-to-speech, then the end of
 * the call (a reminder left on voicemail, or a short apology).
 */
export function sayAndHangUpTwiml(message: string, options: SayOptions = {}): string {
  const response = new VoiceResponse();
  response.say(
    {
      ...(options.language ? { language: options.language as never } : {}),
      ...(options.loop ? { loop: options.loop } : {}),
    },
    message,
  );
  response.hangup();
  return response.toString();
}

/** An empty messaging answer (`<Response/>`): the SMS webhook took note, nothing to reply. */
export function emptyMessagingTwiml(): string {
  return new MessagingResponse().toString();
}

/** `<Response><Hangup/></Response>`: end the call without a word (e.g. a fax answered). */
export function hangUpTwiml(): string {
  const response = new VoiceResponse();
  response.hangup();
  return response.toString();
}
