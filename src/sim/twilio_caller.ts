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
 * 5. Optionally behaves like a phone network: a one-way delay each way and a jitter buffer
 *    that holds audio a while before it starts playing ({@linkcode NetworkOptions}).
 *
 * The server may be at `http://127.0.0.1:PORT` while signatures are computed over the
 * public URL (`https://voice.example.com`), as they are behind a proxy.
 *
 * This is the other side of the service's protocol, so it carries its own encoding of it:
 * the message shapes below are written from Twilio's published Media Streams docs (not
 * imported from the service's schemas) and signatures come from npm `twilio` directly, so a
 * mistake in the service's own protocol code is not shared by the fake that checks it.
 *
 * @module
 */
import twilio from "twilio";
import { z } from "zod";

const FRAME_MS = 20;
const FRAME_BYTES = 160;
const BYTES_PER_MS = 8;
const TICK_MS = 10;
/** How long the webhook, the socket opening and the close handshake may take. */
const DIAL_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 5_000;

// Server -> Twilio messages, exactly as Twilio's Media Streams docs give them ("Send
// messages to Twilio"): only these fields; Twilio rejects others (warning 31951).
const STREAM_SID = /^MZ[0-9a-fA-F]{32}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const ServerMessage = z.discriminatedUnion("event", [
  z.strictObject({
    event: z.literal("media"),
    streamSid: z.string().regex(STREAM_SID),
    media: z.strictObject({ payload: z.string().regex(BASE64) }),
  }),
  z.strictObject({
    event: z.literal("mark"),
    streamSid: z.string().regex(STREAM_SID),
    mark: z.strictObject({ name: z.string() }),
  }),
  z.strictObject({ event: z.literal("clear"), streamSid: z.string().regex(STREAM_SID) }),
]);

/**
 * A phone network between the service and the caller's ear. All default to 0: messages
 * are handled the instant they arrive and audio plays at once.
 */
export interface NetworkOptions {
  /** One-way delay service -> caller (media, marks, clear arrive this much later), ms. */
  downMs?: number;
  /** One-way delay caller -> service (media frames, mark echoes, DTMF, stop), ms. */
  upMs?: number;
  /** Audio waits this long in a jitter buffer before it starts playing (after silence), ms. */
  jitterBufferMs?: number;
}

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
  /** Network delays and jitter buffer; default none. */
  network?: NetworkOptions;
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
  | {
    type: "clear";
    atMs: number;
    /** Agent audio played when the clear reached the caller (after the network delay). */
    playedMsAtClear: number;
    /** Agent audio played when the service sent the clear (what it could know of). */
    playedMsWhenSent: number;
    droppedMs: number;
  }
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

/** Twilio's `start` message, as its Media Streams docs show it (numbers as strings). */
export interface TwilioStartMessage {
  event: "start";
  sequenceNumber: string;
  streamSid: string;
  start: {
    accountSid: string;
    streamSid: string;
    callSid: string;
    tracks: ["inbound"];
    customParameters: Record<string, string>;
    mediaFormat: { encoding: "audio/x-mulaw"; sampleRate: 8000; channels: 1 };
  };
}

/**
 * Twilio's `start` message (the first after `connected`) for an inbound mu-law 8 kHz
 * stream, as an object ready for `JSON.stringify`.
 */
export function startMessage(s: StartMessageFields): TwilioStartMessage {
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

/** The `X-Twilio-Signature` Twilio would send for `url` and `params` (npm `twilio`). */
export function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string>,
): string {
  return twilio.getExpectedTwilioSignature(authToken, url, params);
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
  const signature = twilioSignature(options.authToken, options.publicUrl + path, params);
  return await fetch(options.serverUrl + path, {
    method: "POST",
    signal: AbortSignal.timeout(DIAL_TIMEOUT_MS),
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
  signature: string | null = twilioSignature(options.authToken, streamUrl, {}),
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
  readonly #downMs: number;
  readonly #upMs: number;
  readonly #jitterMs: number;
  readonly #events: CallerEvent[] = [];
  readonly #received: Uint8Array[] = [];
  /** Byte ranges of the received audio a `clear` dropped before they played. */
  readonly #dropped: [number, number][] = [];
  /** When each media frame was sent (ms since the stream started), by chunk number - 1. */
  readonly #frameSentAt: number[] = [];
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
  /** Playback has been accounted up to this time (later while the jitter buffer fills). */
  #lastPlayTick = 0;
  #pendingMarks: { name: string; atBytes: number }[] = [];
  // The network: messages in flight each way, oldest first, with their arrival time.
  #inbound: { at: number; data: string; playedWhenSent: number }[] = [];
  #outbound: { at: number; text: string }[] = [];
  #networkTimer: ReturnType<typeof setTimeout> | undefined;
  #networkTimerAt = Infinity;
  #hungUp = false;
  #finished = false;
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
    this.#downMs = Math.max(0, options.network?.downMs ?? 0);
    this.#upMs = Math.max(0, options.network?.upMs ?? 0);
    this.#jitterMs = Math.max(0, options.network?.jitterBufferMs ?? 0);
    if (options.audio) this.sendAudio(options.audio);
    this.done = new Promise((resolve) => this.#resolveDone = resolve);
    socket.onmessage = (ev) => this.#arrive(ev.data);
    socket.onclose = (ev) => this.#finish(ev.code, ev.reason);
  }

  /**
   * Places a call: webhook, then media socket, `connected`, `start`, and real-time audio.
   * Throws when the TwiML does not connect a stream (e.g. the busy answer) or the socket
   * cannot be opened within 10 s.
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
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = (ev) =>
          reject(new Error(`media socket failed: ${(ev as ErrorEvent).message}`));
        timer = setTimeout(() => {
          socket.close();
          reject(new Error(`media socket not open after ${DIAL_TIMEOUT_MS} ms`));
        }, DIAL_TIMEOUT_MS);
      });
    } finally {
      clearTimeout(timer);
    }
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

  /**
   * When media frame `index` (0-based: the caller's audio from `index * 20` ms on) was
   * sent, ms since the stream started; undefined if not yet sent.
   */
  frameSentAtMs(index: number): number | undefined {
    return this.#frameSentAt[index];
  }

  /** Ms since the stream started, on the caller's clock (the `atMs` of events). */
  get elapsedMs(): number {
    return this.#elapsed();
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

  /**
   * Sends `stop` and closes the socket, like Twilio when the caller hangs up (after what
   * is still in flight towards the service). Resolves when the socket has closed, or
   * after 5 s without the close handshake (then with code 1006).
   */
  hangUp(): Promise<CallerResult> {
    if (!this.#hungUp && this.#socket.readyState === WebSocket.OPEN) {
      this.#hungUp = true;
      this.#send({
        event: "stop",
        sequenceNumber: String(++this.#seq),
        streamSid: this.streamSid,
        stop: { accountSid: this.accountSid, callSid: this.callSid },
      });
      this.#afterOutbound(() => {
        if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(1000, "caller hung up");
        const stuck = setTimeout(() => {
          this.#violation("the service did not complete the close handshake");
          this.#finish(1006, "close handshake timed out");
        }, CLOSE_TIMEOUT_MS);
        void this.done.then(() => clearTimeout(stuck));
      });
    }
    return this.done;
  }

  /** Everything the server sent as audio (mu-law), e.g. to write a WAV. */
  receivedAudio(): Uint8Array {
    return concat(this.#received, this.#receivedBytes);
  }

  /**
   * The agent audio the caller actually heard, in order: what was received, less what a
   * `clear` dropped and what has not played yet.
   */
  heardAudio(): Uint8Array {
    this.#advancePlayout();
    const all = this.receivedAudio();
    const parts: Uint8Array[] = [];
    let at = 0;
    let total = 0;
    for (const [from, to] of [...this.#dropped, [all.length, all.length]]) {
      parts.push(all.subarray(at, from));
      total += from - at;
      at = to;
    }
    return concat(parts, total).subarray(0, this.#playedBytes);
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

  /** Sends a message towards the service (after the uplink delay). */
  #send(msg: unknown): void {
    const text = JSON.stringify(msg);
    if (this.#upMs === 0 && this.#outbound.length === 0) {
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(text);
      return;
    }
    this.#outbound.push({ at: this.#now() + this.#upMs, text });
    this.#scheduleNetwork();
  }

  /** Runs `fn` once every message sent so far has left (at once without an uplink delay). */
  #afterOutbound(fn: () => void): void {
    if (this.#outbound.length === 0) return fn();
    const last = this.#outbound.at(-1)!.at;
    setTimeout(fn, Math.max(0, last - this.#now()) + 1);
  }

  /** A server message reached the socket: it reaches the caller after the downlink delay. */
  #arrive(data: unknown): void {
    if (typeof data !== "string") return this.#violation("binary frame from server");
    const playedWhenSent = this.agentAudioMsPlayed;
    if (this.#downMs === 0 && this.#inbound.length === 0) {
      return this.#onMessage(data, playedWhenSent);
    }
    this.#inbound.push({ at: this.#now() + this.#downMs, data, playedWhenSent });
    this.#scheduleNetwork();
  }

  /** Delivers every message in flight whose time has come, then re-arms for the next. */
  #pumpNetwork(): void {
    const now = this.#now();
    while (this.#inbound.length > 0 && this.#inbound[0].at <= now) {
      const { data, playedWhenSent } = this.#inbound.shift()!;
      this.#onMessage(data, playedWhenSent);
    }
    while (this.#outbound.length > 0 && this.#outbound[0].at <= now) {
      const { text } = this.#outbound.shift()!;
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.send(text);
    }
    this.#scheduleNetwork();
  }

  #scheduleNetwork(): void {
    if (this.#finished) return;
    const next = Math.min(this.#inbound[0]?.at ?? Infinity, this.#outbound[0]?.at ?? Infinity);
    if (next === Infinity || next >= this.#networkTimerAt) return;
    clearTimeout(this.#networkTimer);
    this.#networkTimerAt = next;
    this.#networkTimer = setTimeout(() => {
      this.#networkTimerAt = Infinity;
      this.#networkTimer = undefined;
      this.#pumpNetwork();
    }, Math.max(0, next - this.#now()));
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
    this.#frameSentAt.push(this.#now() - this.#t0);
    this.#send({
      event: "media",
      sequenceNumber: String(++this.#seq),
      media: {
        track: "inbound",
        chunk: String(chunk),
        timestamp: String((chunk - 1) * FRAME_MS),
        payload: frame.toBase64(),
      },
      streamSid: this.streamSid,
    });
  }

  #advancePlayout(): void {
    const now = this.#now();
    // Nothing plays while the jitter buffer fills (#lastPlayTick is then in the future).
    if (now > this.#lastPlayTick) {
      const budget = (now - this.#lastPlayTick) * BYTES_PER_MS;
      this.#lastPlayTick = now;
      // Nothing buffered means nothing plays: idle time earns no credit.
      if (this.#queuedBytes > this.#playedBytes) {
        this.#playedBytes = Math.min(this.#queuedBytes, this.#playedBytes + budget);
      }
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

  #onMessage(data: string, playedWhenSent: number): void {
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      return this.#violation("invalid JSON from server");
    }
    // Strict like Twilio: extra fields or a wrong streamSid are rejected (warning 31951).
    const parsed = ServerMessage.safeParse(raw);
    if (!parsed.success) return this.#violation(`invalid message: ${parsed.error.message}`);
    const msg = parsed.data;
    if (msg.streamSid !== this.streamSid) return this.#violation("wrong streamSid");
    this.#advancePlayout();
    if (msg.event === "media") {
      const bytes = Uint8Array.fromBase64(msg.media.payload);
      this.#mediaReceived++;
      this.#received.push(bytes);
      this.#receivedBytes += bytes.length;
      if (this.#queuedBytes === this.#playedBytes) {
        // After silence the audio waits in the jitter buffer before it plays.
        this.#lastPlayTick = this.#now() + this.#jitterMs;
      }
      this.#queuedBytes += bytes.length;
      this.#onMedia?.(bytes);
    } else if (msg.event === "mark") {
      if (this.#queuedBytes <= this.#playedBytes) this.#echoMark(msg.mark.name, false);
      else this.#pendingMarks.push({ name: msg.mark.name, atBytes: this.#queuedBytes });
    } else {
      const dropped = this.#queuedBytes - this.#playedBytes;
      if (dropped > 0) this.#dropped.push([this.#receivedBytes - dropped, this.#receivedBytes]);
      this.#queuedBytes = this.#playedBytes;
      this.#event({
        type: "clear",
        atMs: this.#elapsed(),
        playedMsAtClear: this.#playedBytes / BYTES_PER_MS,
        playedMsWhenSent: Math.min(playedWhenSent, this.#playedBytes / BYTES_PER_MS),
        droppedMs: dropped / BYTES_PER_MS,
      });
      for (const m of this.#pendingMarks.splice(0)) this.#echoMark(m.name, true);
    }
  }

  #finish(code: number, reason: string): void {
    if (this.#finished) return;
    this.#advancePlayout();
    this.#finished = true;
    clearInterval(this.#timer);
    clearTimeout(this.#networkTimer);
    this.#inbound = [];
    this.#outbound = [];
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

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of parts) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
