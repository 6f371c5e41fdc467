/**
 * A fake Twilio caller: places a call on the service the way Twilio does and behaves like
 * Twilio's media stream on the other end. Used by tests and by a developer CLI.
 *
 * 1. POSTs the signed voice webhook (form params like Twilio's) and parses the TwiML.
 * 2. Opens the `<Stream>` WebSocket with a signed upgrade, sends `connected` and `start`
 *    (Twilio's framing: string numbers, `customParameters`, `mediaFormat`).
 * 3. Streams mu-law in real time as 20 ms / 160-byte frames (timer-driven, catching up on
 *    drift), silence once the queued audio is used up.
 * 4. Plays back what it receives in real time (8 bytes/ms), echoes marks when the audio
 *    before them has played, and on `clear` drops the buffer and echoes pending marks.
 *
 * The server may be at `http://127.0.0.1:PORT` while signatures are computed over the
 * public URL (`https://voice.example.com`), as they are behind a proxy.
 *
 * @module
 */
import { OutboundMessageSchema, type StartMessage } from "../twilio/protocol.ts";
import { signTwilioRequest } from "../twilio/signature.ts";

const FRAME_MS = 20;
const FRAME_BYTES = 160;
const BYTES_PER_MS = 8;
const TICK_MS = 10;

/** Where and as whom to call. */
export interface TwilioCallerOptions {
  /** Where the server really listens, e.g. `http://127.0.0.1:8080`. */
  serverUrl: string;
  /** The public origin Twilio would call (signatures are computed over it). */
  publicUrl: string;
  authToken: string;
  accountSid?: string;
  callSid?: string;
  from?: string;
  to?: string;
  /** Extra form params for the webhook (Twilio adds fields without notice). */
  extraParams?: Record<string, string>;
  /**
   * Path (and query) of the voice webhook under `publicUrl`; default `/twilio/voice`. A call
   * the service placed itself names its own URL (e.g. a signed reminder link).
   */
  voicePath?: string;
  /** Mu-law audio to stream first; more can be queued with {@linkcode TwilioCaller.sendAudio}. */
  audio?: Uint8Array;
  /** Clock; default `performance.now`. */
  now?: () => number;
  /** Called for each media message received from the server (decoded mu-law). */
  onMedia?: (mulaw: Uint8Array) => void;
  /** Called as each timeline event happens (marks echoed, clears, DTMF, violations). */
  onEvent?: (event: CallerEvent) => void;
}

/** The webhook answer. */
export interface WebhookAnswer {
  status: number;
  body: string;
  /** `<Stream url>` when the TwiML connects a stream. */
  streamUrl?: string;
  /** `<Parameter>`s of the stream. */
  parameters: Record<string, string>;
}

/** One entry of the caller's timeline (times in ms since the stream started). */
export type CallerEvent =
  | { type: "mark_echo"; atMs: number; name: string; cleared: boolean }
  | { type: "clear"; atMs: number; playedMsAtClear: number; droppedMs: number }
  | { type: "dtmf_sent"; atMs: number; digit: string }
  | { type: "violation"; atMs: number; message: string };

/** What the caller observed, available from {@linkcode TwilioCaller.done}. */
export interface CallerResult {
  /** Close code and reason of the media socket. */
  closeCode: number;
  closeReason: string;
  /** Who closed: `caller` after {@linkcode TwilioCaller.hangUp}, otherwise `server`. */
  closedBy: "caller" | "server";
  framesSent: number;
  mediaMessagesReceived: number;
  agentAudioMsReceived: number;
  agentAudioMsPlayed: number;
  events: CallerEvent[];
}

/** Random-looking SID with a prefix, like Twilio's (`CA…`, `MZ…`). */
export function fakeSid(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The ids and parameters of a media stream's `start` message. */
export interface StartMessageFields {
  accountSid: string;
  streamSid: string;
  callSid: string;
  /** The `<Parameter>`s of the TwiML `<Stream>`. */
  customParameters: Record<string, string>;
  sequenceNumber?: number;
}

/**
 * Twilio's `start` message (the first after `connected`) for an inbound mu-law 8 kHz
 * stream, as an object ready for `JSON.stringify`.
 */
export function startMessage(s: StartMessageFields): StartMessage {
  return {
    event: "start",
    sequenceNumber: String(s.sequenceNumber ?? 1),
    streamSid: s.streamSid,
    start: {
      accountSid: s.accountSid,
      streamSid: s.streamSid,
      callSid: s.callSid,
      tracks: ["inbound"],
      customParameters: s.customParameters,
      mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
    },
  };
}

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case "amp":
        return "&";
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "quot":
        return '"';
      case "apos":
        return "'";
      default:
        return String.fromCodePoint(
          e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10),
        );
    }
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([A-Za-z_:][\w:.-]*)\s*=\s*"([^"]*)"/g)) {
    out[m[1]] = unescapeXml(m[2]);
  }
  return out;
}

/** Attributes of a tag; `>` may appear inside quoted values (XML does not escape it). */
const ATTRS = String.raw`(?:\s+[\w:.-]+\s*=\s*"[^"]*")*`;

/** Extracts the `<Connect><Stream url>` and its `<Parameter>`s from TwiML (our TwiML is simple). */
export function parseStreamTwiml(twiml: string): Pick<WebhookAnswer, "streamUrl" | "parameters"> {
  const connect = /<Connect\b[^>]*>([\s\S]*?)<\/Connect>/.exec(twiml);
  const stream = connect && new RegExp(`<Stream\\b${ATTRS}\\s*/?>`).exec(connect[1]);
  const parameters: Record<string, string> = {};
  if (!connect || !stream) return { parameters };
  for (const m of connect[1].matchAll(new RegExp(`<Parameter\\b${ATTRS}\\s*/?>`, "g"))) {
    const a = attributes(m[0]);
    if (a.name !== undefined) parameters[a.name] = a.value ?? "";
  }
  return { streamUrl: attributes(stream[0]).url, parameters };
}

/** Signs and POSTs a Twilio-style form to `path` (webhooks and status callbacks). */
export async function postSignedForm(
  options: Pick<TwilioCallerOptions, "serverUrl" | "publicUrl" | "authToken">,
  path: string,
  params: Record<string, string>,
): Promise<Response> {
  const signature = signTwilioRequest(options.authToken, options.publicUrl + path, params);
  return await fetch(options.serverUrl + path, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": signature,
      "i-twilio-idempotency-token": crypto.randomUUID(),
    },
    body: new URLSearchParams(params),
  });
}

/** The form params Twilio posts for an inbound call. */
export function voiceWebhookParams(options: TwilioCallerOptions): Record<string, string> {
  return {
    AccountSid: options.accountSid ?? "AC" + "0".repeat(32),
    ApiVersion: "2010-04-01",
    CallSid: options.callSid ?? fakeSid("CA"),
    CallStatus: "ringing",
    Called: options.to ?? "+15550001111",
    Caller: options.from ?? "+15557654321",
    Direction: "inbound",
    From: options.from ?? "+15557654321",
    FromCountry: "US",
    To: options.to ?? "+15550001111",
    ToCountry: "US",
    ...options.extraParams,
  };
}

/** POSTs the signed voice webhook and parses the TwiML answer. */
export async function postVoiceWebhook(
  options: TwilioCallerOptions,
  params: Record<string, string> = voiceWebhookParams(options),
): Promise<WebhookAnswer> {
  const res = await postSignedForm(options, options.voicePath ?? "/twilio/voice", params);
  const body = await res.text();
  return { status: res.status, body, ...parseStreamTwiml(body) };
}

/** Opens a media socket to `streamUrl` (public wss URL) at the server's real address, signed. */
export function openMediaSocket(
  options: Pick<TwilioCallerOptions, "serverUrl" | "authToken">,
  streamUrl: string,
  signature: string | null = signTwilioRequest(options.authToken, streamUrl, {}),
): WebSocket {
  const target = new URL(new URL(streamUrl).pathname, options.serverUrl);
  target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
  const headers: Record<string, string> = signature === null
    ? {}
    : { "x-twilio-signature": signature };
  return new WebSocket(target.href, { headers });
}

/** A call in progress. Create with {@linkcode TwilioCaller.dial}. */
export class TwilioCaller {
  readonly callSid: string;
  readonly accountSid: string;
  readonly streamSid = fakeSid("MZ");
  /** The TwiML the webhook answered with. */
  readonly answer: WebhookAnswer;
  /** Resolves when the media socket has closed. */
  readonly done: Promise<CallerResult>;

  readonly #socket: WebSocket;
  readonly #now: () => number;
  readonly #onMedia: ((mulaw: Uint8Array) => void) | undefined;
  readonly #onEvent: ((event: CallerEvent) => void) | undefined;
  readonly #events: CallerEvent[] = [];
  readonly #received: Uint8Array[] = [];
  #seq = 0;
  #t0 = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  // Outgoing audio (caller speech): a queue of chunks consumed 160 bytes per frame.
  #outQueue: Uint8Array[] = [];
  #outOffset = 0;
  #framesSent = 0;
  // Playout: bytes queued from the server vs. bytes already played.
  #queuedBytes = 0;
  #playedBytes = 0;
  #receivedBytes = 0;
  #mediaReceived = 0;
  #lastPlayTick = 0;
  #pendingMarks: { name: string; atBytes: number }[] = [];
  #hungUp = false;
  #resolveDone!: (r: CallerResult) => void;

  private constructor(
    socket: WebSocket,
    answer: WebhookAnswer,
    params: Record<string, string>,
    options: TwilioCallerOptions,
  ) {
    this.#socket = socket;
    this.answer = answer;
    this.callSid = params.CallSid;
    this.accountSid = params.AccountSid;
    this.#now = options.now ?? (() => performance.now());
    this.#onMedia = options.onMedia;
    this.#onEvent = options.onEvent;
    if (options.audio) this.sendAudio(options.audio);
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    socket.onmessage = (ev) => this.#onMessage(ev.data);
    socket.onclose = (ev) => this.#finish(ev.code, ev.reason);
  }

  /**
   * Places a call: webhook, then media socket, `connected`, `start`, and real-time audio.
   * Throws when the TwiML does not connect a stream (e.g. the busy answer) or the socket
   * cannot be opened.
   */
  static async dial(options: TwilioCallerOptions): Promise<TwilioCaller> {
    const params = voiceWebhookParams(options);
    const answer = await postVoiceWebhook(options, params);
    return await TwilioCaller.connect(options, answer, params);
  }

  /**
   * The second half of {@linkcode dial}: opens the media stream the webhook's TwiML named
   * (for a webhook already posted, e.g. by a fake Twilio placing an outbound call).
   */
  static async connect(
    options: TwilioCallerOptions,
    answer: WebhookAnswer,
    params: Record<string, string>,
  ): Promise<TwilioCaller> {
    if (answer.status !== 200 || !answer.streamUrl) {
      throw new Error(`call not connected to a stream (HTTP ${answer.status}): ${answer.body}`);
    }
    const socket = openMediaSocket(options, answer.streamUrl);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (ev) =>
        reject(new Error(`media socket failed: ${(ev as ErrorEvent).message}`));
    });
    socket.onerror = null;
    const caller = new TwilioCaller(socket, answer, params, options);
    caller.#begin();
    return caller;
  }

  /** Queues more caller speech (mu-law); it is sent in real time after what is queued. */
  sendAudio(mulaw: Uint8Array): void {
    if (mulaw.length > 0) this.#outQueue.push(mulaw);
  }

  /** Ms of queued caller audio not yet sent. */
  get pendingAudioMs(): number {
    let bytes = -this.#outOffset;
    for (const c of this.#outQueue) bytes += c.length;
    return bytes / BYTES_PER_MS;
  }

  /** Media frames sent so far. */
  get framesSent(): number {
    return this.#framesSent;
  }

  /** Media messages received so far. */
  get mediaMessagesReceived(): number {
    return this.#mediaReceived;
  }

  /** Timeline so far. */
  get events(): readonly CallerEvent[] {
    return this.#events;
  }

  /** Sends a DTMF key press. */
  sendDtmf(digit: string): void {
    this.#send({
      event: "dtmf",
      streamSid: this.streamSid,
      sequenceNumber: String(++this.#seq),
      dtmf: { track: "inbound_track", digit },
    });
    this.#event({ type: "dtmf_sent", atMs: this.#elapsed(), digit });
  }

  /** Sends `stop` and closes the socket, like Twilio when the caller hangs up. */
  hangUp(): Promise<CallerResult> {
    if (!this.#hungUp && this.#socket.readyState === WebSocket.OPEN) {
      this.#hungUp = true;
      this.#send({
        event: "stop",
        sequenceNumber: String(++this.#seq),
        streamSid: this.streamSid,
        stop: { accountSid: this.accountSid, callSid: this.callSid },
      });
      this.#socket.close(1000, "caller hung up");
    }
    return this.done;
  }

  /** Everything the server sent as audio (mu-law), e.g. to write a WAV. */
  receivedAudio(): Uint8Array {
    const out = new Uint8Array(this.#receivedBytes);
    let at = 0;
    for (const c of this.#received) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  /** Ms of agent audio played so far (advances in real time while audio is buffered). */
  get agentAudioMsPlayed(): number {
    this.#advancePlayout();
    return this.#playedBytes / BYTES_PER_MS;
  }

  #begin(): void {
    this.#send({ event: "connected", protocol: "Call", version: "1.0.0" });
    this.#send(startMessage({
      accountSid: this.accountSid,
      streamSid: this.streamSid,
      callSid: this.callSid,
      customParameters: this.answer.parameters,
      sequenceNumber: ++this.#seq,
    }));
    this.#t0 = this.#now();
    this.#lastPlayTick = this.#t0;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  #elapsed(): number {
    return Math.round(this.#now() - this.#t0);
  }

  #send(msg: unknown): void {
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(msg));
  }

  /** Sends every frame due by now (catching up after timer drift) and advances playout. */
  #tick(): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    const due = Math.floor((this.#now() - this.#t0) / FRAME_MS) + 1;
    while (this.#framesSent < due) this.#sendFrame();
    this.#advancePlayout();
  }

  #sendFrame(): void {
    const frame = new Uint8Array(FRAME_BYTES).fill(0xff);
    let filled = 0;
    while (filled < FRAME_BYTES && this.#outQueue.length > 0) {
      const head = this.#outQueue[0];
      const n = Math.min(FRAME_BYTES - filled, head.length - this.#outOffset);
      frame.set(head.subarray(this.#outOffset, this.#outOffset + n), filled);
      filled += n;
      this.#outOffset += n;
      if (this.#outOffset === head.length) {
        this.#outQueue.shift();
        this.#outOffset = 0;
      }
    }
    const chunk = ++this.#framesSent;
    this.#socket.send(
      JSON.stringify({
        event: "media",
        sequenceNumber: String(++this.#seq),
        media: {
          track: "inbound",
          chunk: String(chunk),
          timestamp: String((chunk - 1) * FRAME_MS),
          payload: frame.toBase64(),
        },
        streamSid: this.streamSid,
      }),
    );
  }

  #advancePlayout(): void {
    const now = this.#now();
    const budget = (now - this.#lastPlayTick) * BYTES_PER_MS;
    this.#lastPlayTick = now;
    // Nothing buffered means nothing plays: idle time earns no credit.
    if (this.#queuedBytes > this.#playedBytes) {
      this.#playedBytes = Math.min(this.#queuedBytes, this.#playedBytes + budget);
    }
    while (this.#pendingMarks.length > 0 && this.#pendingMarks[0].atBytes <= this.#playedBytes) {
      this.#echoMark(this.#pendingMarks.shift()!.name, false);
    }
  }

  #echoMark(name: string, cleared: boolean): void {
    this.#send({
      event: "mark",
      sequenceNumber: String(++this.#seq),
      streamSid: this.streamSid,
      mark: { name },
    });
    this.#event({ type: "mark_echo", atMs: this.#elapsed(), name, cleared });
  }

  #event(event: CallerEvent): void {
    this.#events.push(event);
    this.#onEvent?.(event);
  }

  #violation(message: string): void {
    this.#event({ type: "violation", atMs: this.#elapsed(), message });
  }

  #onMessage(data: unknown): void {
    if (typeof data !== "string") return this.#violation("binary frame from server");
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return this.#violation("invalid JSON from server");
    }
    // Strict like Twilio: extra fields or a wrong streamSid are rejected (warning 31951).
    const parsed = OutboundMessageSchema.safeParse(raw);
    if (!parsed.success) return this.#violation(`invalid message: ${parsed.error.message}`);
    const msg = parsed.data;
    if (msg.streamSid !== this.streamSid) return this.#violation("wrong streamSid");
    this.#advancePlayout();
    if (msg.event === "media") {
      let bytes: Uint8Array;
      try {
        bytes = Uint8Array.fromBase64(msg.media.payload);
      } catch {
        return this.#violation("payload is not base64");
      }
      this.#mediaReceived++;
      this.#received.push(bytes);
      this.#receivedBytes += bytes.length;
      if (this.#queuedBytes === this.#playedBytes) this.#lastPlayTick = this.#now();
      this.#queuedBytes += bytes.length;
      this.#onMedia?.(bytes);
    } else if (msg.event === "mark") {
      if (this.#queuedBytes <= this.#playedBytes) this.#echoMark(msg.mark.name, false);
      else this.#pendingMarks.push({ name: msg.mark.name, atBytes: this.#queuedBytes });
    } else {
      const droppedMs = (this.#queuedBytes - this.#playedBytes) / BYTES_PER_MS;
      this.#queuedBytes = this.#playedBytes;
      this.#event({
        type: "clear",
        atMs: this.#elapsed(),
        playedMsAtClear: this.#playedBytes / BYTES_PER_MS,
        droppedMs,
      });
      for (const m of this.#pendingMarks.splice(0)) this.#echoMark(m.name, true);
    }
  }

  #finish(code: number, reason: string): void {
    clearInterval(this.#timer);
    this.#advancePlayout();
    this.#resolveDone({
      closeCode: code,
      closeReason: reason,
      closedBy: this.#hungUp ? "caller" : "server",
      framesSent: this.#framesSent,
      mediaMessagesReceived: this.#mediaReceived,
      agentAudioMsReceived: this.#receivedBytes / BYTES_PER_MS,
      agentAudioMsPlayed: this.#playedBytes / BYTES_PER_MS,
      events: this.#events,
    });
  }
}
