/**
 * The HTTP routes Twilio talks to: the voice webhook (answers with TwiML), the media
 * WebSocket, and the call and stream status callbacks. Every request is signature-checked
 * against the configured public URL before anything else happens.
 *
 * Trust: a webhook is Twilio's when its signature verifies; a media stream is the call's
 * when its upgrade signature verifies and the call token in `start` was issued by our
 * webhook for that CallSid and those `from`/`to` numbers (the token's MAC covers them). A
 * CallSid gets one stream: a second `start` for it, or a second voice webhook once it has
 * streamed (a replay: Twilio signatures carry no timestamp), is refused. Everything an
 * unauthenticated peer sends is bounded, and what is logged about it is cut short and
 * rate-limited.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Route } from "../http.ts";
import { clip, logger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import { type Clock, raceTimer, systemClock } from "../clock.ts";
import { CallTokenSigner } from "./call_token.ts";
import {
  CloseCode,
  type DropReason,
  type StreamEndReason,
  TwilioStream,
  type TwilioStreamOptions,
} from "./media_stream.ts";
import { type MediaSocketLimits, mediaSocketLimits, MediaSockets } from "./media_sockets.ts";
import { RecentCallSids } from "./recent_calls.ts";
import {
  CALL_STATUS_PATH,
  MEDIA_PATH,
  STREAM_STATUS_PATH,
  type StreamStart,
  VOICE_PATH,
} from "./protocol.ts";
import { mediaStreamUrl, type TwilioParams, TwilioSignatureVerifier } from "./signature.ts";
import { busyTwiml, streamTwiml } from "./twiml.ts";
import { first, limitedWarn, plain, SIGNATURE_HINT, signedWebhookReader, xml } from "./webhook.ts";

const log = logger("twilio", "routes");

/** Name of the `<Parameter>` carrying the call token. */
export const CALL_TOKEN_PARAM = "callToken";

/**
 * Longest `from`/`to` passed to the stream (Twilio allows under 500 characters per
 * `<Parameter>`; a SIP `From` can be longer). Longer numbers are cut, and the token
 * covers the cut value.
 */
export const MAX_NUMBER_PARAM_CHARS = 256;

/** How long the replay check may wait for the database before the call goes ahead. */
const RECORD_CHECK_MS = 1000;

/** Twilio CallSids: `CA` and 32 hex digits. */
const CALL_SID_PATTERN = /^CA[0-9a-fA-F]{32}$/;

/** Why a media stream was refused after its `start` (metrics and logs). */
export type StreamRefusal =
  | "invalid_token"
  | "foreign_account"
  | "token_reused"
  | "already_recorded"
  | "unsupported_media_format";

/** Whether a new call may be taken now. */
export type Admission = { accept: true } | { accept: false; reason: "draining" | "busy" };

/** Facts of an incoming call, from the voice webhook. */
export interface IncomingCallInfo {
  callSid: string;
  from: string;
  to: string;
  /** Every form parameter Twilio sent. */
  params: TwilioParams;
}

/** A call status callback. */
export interface CallStatusInfo {
  callSid: string;
  /** e.g. `completed`, `busy`, `no-answer`, `failed`, `canceled`. */
  callStatus: string;
  /** Call length in seconds, when Twilio reports it. */
  duration?: number;
  params: TwilioParams;
}

/** A media stream status callback. */
export interface StreamStatusInfo {
  callSid: string;
  streamSid: string;
  /** `stream-started`, `stream-stopped` or `stream-error`. */
  streamEvent: string;
  /** Error text for `stream-error`. */
  streamError?: string;
  params: TwilioParams;
}

/** What the Twilio routes need from the rest of the service. */
export interface TwilioRouteDeps {
  config: Config;
  /** Asked for every incoming call. */
  admission(): Admission;
  /** Pre-warm hook: called once the call is accepted and its TwiML built, last. */
  onIncomingCall?(info: IncomingCallInfo): void;
  /** A verified media stream (signature + call token checked); its consumer must `attach`. */
  onStream(stream: TwilioStream, start: StreamStart): void;
  onCallStatus?(status: CallStatusInfo): void;
  onStreamStatus?(status: StreamStatusInfo): void;
  /**
   * Whether a call record exists for the CallSid (saved by any instance): a webhook or a
   * stream for it is then a replay. An error counts as "no" (logged): the database being
   * down must not stop calls.
   */
  callRecorded?(callSid: string): Promise<boolean>;
  /**
   * Ends a verified call politely over REST (a spoken apology, then a transfer if
   * possible) when its stream cannot be served; without it the socket is just closed.
   */
  refuseCall?(callSid: string, why: StreamRefusal): Promise<void>;
  /** Every refused stream or socket, by reason (metrics). */
  onRefused?(reason: StreamRefusal | "replayed_webhook" | "too_many_pending"): void;
  /** Every frame a stream dropped and every end it decided, by reason (metrics). */
  onProtocolError?(reason: DropReason | StreamEndReason): void;
  /** Open media sockets (give one to close them all on shutdown); default a private one. */
  sockets?: MediaSockets;
  /** Limits of sockets that have not sent `start` (when `sockets` is not given); default from `MAX_CALLS`. */
  socketLimits?: MediaSocketLimits;
  /** Largest webhook body accepted; default 64 KiB. */
  maxBodyBytes?: number;
  /** How long the media socket may wait for `start`; default 5000 ms. */
  startTimeoutMs?: number;
  /** Token signer; default derived from the auth token (inject to share one or to set a clock). */
  callTokens?: CallTokenSigner;
  /** Stream options (tests: limits); the media timeout comes from the config. */
  streamOptions?: Partial<TwilioStreamOptions>;
  /** Time for the stream bounds and the memory of streamed calls (default: system). */
  clock?: Clock;
}

/** A number as passed in a `<Parameter>`: cut to {@linkcode MAX_NUMBER_PARAM_CHARS}. */
function numberParam(value: string): string {
  return value.slice(0, MAX_NUMBER_PARAM_CHARS);
}

/** Answer to a replayed webhook: nothing to run. */
const HANG_UP_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>';

/** Builds the Twilio routes. */
export function twilioRoutes(deps: TwilioRouteDeps): Route[] {
  const { config } = deps;
  const verifier = new TwilioSignatureVerifier(config);
  const startTimeoutMs = deps.startTimeoutMs ?? 5000;
  const clock = deps.clock ?? systemClock;
  const sockets = deps.sockets ??
    new MediaSockets(deps.socketLimits ?? mediaSocketLimits(config.limits.maxCalls));
  // Long enough to outlive any token (5 minutes) and any call (MAX_CALL_SECONDS).
  const streamed = new RecentCallSids({
    ttlMs: (config.limits.maxCallSeconds + 600) * 1000,
    clock,
  });
  let signer: Promise<CallTokenSigner> | undefined = deps.callTokens
    ? Promise.resolve(deps.callTokens)
    : undefined;
  const tokens = () => signer ??= CallTokenSigner.create(config.twilio.authToken);
  // Anyone can cause these lines: a few a minute each, values cut short.
  const warnRefused = limitedWarn(log);

  /** A call record exists for the CallSid; false when the lookup fails (logged). */
  async function recorded(callSid: string): Promise<boolean> {
    if (!deps.callRecorded) return false;
    try {
      // A database that hangs must not hold the caller (Twilio gives the webhook 15 s).
      return await raceTimer(clock, deps.callRecorded(callSid), RECORD_CHECK_MS, () => {
        throw new Error(`no answer within ${RECORD_CHECK_MS} ms`);
      });
    } catch (error) {
      log.warn("could not check for an existing record of {callSid}: {error}", {
        callSid,
        error: errorMessage(error),
      });
      return false;
    }
  }

  /** Reads, parses and verifies a signed webhook; a Response means "stop here". */
  const signedForm = signedWebhookReader({ config, log, maxBodyBytes: deps.maxBodyBytes });

  async function voice(req: Request): Promise<Response> {
    const params = await signedForm(req);
    if (params instanceof Response) return params;
    const callSid = first(params, "CallSid");
    if (!callSid || !CALL_SID_PATTERN.test(callSid)) {
      log.warn("voice webhook without a valid CallSid: {callSid}", { callSid: clip(callSid, 40) });
      return plain(400, "missing or invalid CallSid");
    }
    // Twilio sends one voice webhook per call; once the call has streamed, another is a replay.
    if (streamed.has(callSid) || await recorded(callSid)) {
      log.warn("voice webhook for {callSid} refused: that call was already answered", { callSid });
      deps.onRefused?.("replayed_webhook");
      return xml(HANG_UP_TWIML);
    }
    const admission = deps.admission();
    if (!admission.accept) {
      log.info("call {callSid} not taken: {reason}", { callSid, reason: admission.reason });
      return xml(busyTwiml({ transferNumber: config.transferNumber }));
    }
    // Everything that can fail comes before the pre-warm, which costs a model session.
    const from = first(params, "From") ?? "";
    const to = first(params, "To") ?? "";
    const claims = { callSid, from: numberParam(from), to: numberParam(to) };
    const twiml = streamTwiml({
      publicUrl: config.publicUrl,
      parameters: {
        [CALL_TOKEN_PARAM]: await (await tokens()).issue(claims),
        from: claims.from,
        to: claims.to,
      },
    });
    log.info("incoming call {callSid}", { callSid });
    try {
      deps.onIncomingCall?.({ callSid, from, to, params });
    } catch (error) {
      log.error("onIncomingCall failed for {callSid}: {error}", { callSid, error });
    }
    return xml(twiml);
  }

  function media(req: Request, remoteAddr = ""): Response {
    if ((req.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      return plain(426, "expected a WebSocket upgrade");
    }
    // Headers are only readable before the upgrade: verify first.
    const signature = req.headers.get("x-twilio-signature");
    if (!verifier.verifyMediaUpgrade(signature)) {
      warnRefused("rejected media socket: invalid Twilio signature ({why}) for {url}; {hint}", {
        why: signature ? "mismatch" : "missing header",
        url: mediaStreamUrl(config.publicUrl),
        hint: SIGNATURE_HINT,
      });
      return plain(403, "forbidden");
    }
    // The upgrade signature is the same for every call: bound the sockets that have shown
    // nothing else yet.
    const admitted = sockets.admit(remoteAddr);
    if (admitted !== "ok") {
      warnRefused("refused media socket from {address}: {why}", {
        address: remoteAddr,
        why: admitted,
      });
      deps.onRefused?.("too_many_pending");
      return new Response("too many media sockets waiting for start", {
        status: 503,
        headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1" },
      });
    }
    const streamOptions: TwilioStreamOptions = {
      mediaTimeoutMs: config.limits.mediaTimeoutSeconds * 1000,
      clock,
      onProtocolError: deps.onProtocolError,
      ...deps.streamOptions,
    };
    // Deno's idle timer (120 s by default) is cancelled and re-armed for every message
    // received, 50 times a second per call; the stream's own media watchdog (one coarse
    // timer, re-armed only when it fires) already ends a stream that goes quiet, and the
    // start timeout below one that never starts. Kept only where the watchdog is off.
    const watchdogOn = (streamOptions.mediaTimeoutMs ?? 1) > 0;
    const { socket, response } = Deno.upgradeWebSocket(req, watchdogOn ? { idleTimeout: 0 } : {});
    // Messages after `start` are held by the stream until the call attaches.
    const stream = new TwilioStream(socket, streamOptions);
    sockets.track(stream, remoteAddr);
    const timer = setTimeout(() => {
      log.warn("media socket sent no start within {ms} ms", { ms: startTimeoutMs });
      stream.close(CloseCode.policy, "no start message");
    }, startTimeoutMs);
    const offClose = stream.on("close", () => clearTimeout(timer));
    const offStart = stream.on("start", (start) => {
      clearTimeout(timer);
      offClose();
      offStart();
      accept(stream, start).catch((error) => {
        log.error("accepting media stream failed: {error}", { error, callSid: start.callSid });
        stream.close(CloseCode.internal, "internal error");
      });
    });
    return response;
  }

  /** Refuses a started stream: logged, counted, closed (after a polite REST end if asked). */
  async function refuse(
    stream: TwilioStream,
    callSid: string,
    why: StreamRefusal,
    closeReason: string,
    polite = false,
  ): Promise<void> {
    deps.onRefused?.(why);
    if (polite && deps.refuseCall) {
      try {
        await deps.refuseCall(callSid, why);
      } catch (error) {
        log.error("could not end {callSid} politely: {error}", { callSid, error });
      }
    }
    stream.close(polite ? CloseCode.normal : CloseCode.policy, closeReason);
  }

  async function accept(stream: TwilioStream, start: StreamStart): Promise<void> {
    const callSid = start.callSid;
    const params = start.customParameters;
    const claims = { callSid, from: params.from ?? "", to: params.to ?? "" };
    const ok = await (await tokens()).verify(params[CALL_TOKEN_PARAM], claims);
    if (stream.closed) return;
    if (!ok) {
      // Also what a forged `from` looks like: the token covers the numbers.
      warnRefused("rejected media stream for {callSid}: invalid call token", {
        callSid: clip(callSid, 40),
      });
      return refuse(stream, callSid, "invalid_token", "invalid call token");
    }
    if (config.twilio.accountSid && start.accountSid !== config.twilio.accountSid) {
      log.warn("rejected media stream for {callSid}: foreign account", { callSid });
      return refuse(stream, callSid, "foreign_account", "invalid account");
    }
    // One stream per CallSid, ever: checked and taken with no await in between.
    if (streamed.has(callSid)) {
      log.warn("rejected media stream for {callSid}: its call token was already used", {
        callSid,
      });
      return refuse(stream, callSid, "token_reused", "call token already used");
    }
    streamed.add(callSid);
    const { encoding, sampleRate, channels } = start.mediaFormat;
    if (encoding !== "audio/x-mulaw" || sampleRate !== 8000 || channels !== 1) {
      log.error(
        "media stream for {callSid} refused: unsupported media format {encoding}, {sampleRate} Hz, " +
          "{channels} channel(s); the service handles audio/x-mulaw, 8000 Hz, 1 channel",
        { callSid, encoding: clip(encoding, 40), sampleRate, channels },
      );
      return refuse(stream, callSid, "unsupported_media_format", "unsupported media format", true);
    }
    // Another instance may have served this CallSid (a replayed token): its record says so.
    if (await recorded(callSid)) {
      log.warn("rejected media stream for {callSid}: a record of that call exists", { callSid });
      return refuse(stream, callSid, "already_recorded", "call already answered");
    }
    if (stream.closed) return;
    deps.onStream(stream, start);
  }

  async function callStatus(req: Request): Promise<Response> {
    const params = await signedForm(req);
    if (params instanceof Response) return params;
    const callSid = first(params, "CallSid") ?? "";
    const status = first(params, "CallStatus") ?? "";
    const durationText = first(params, "CallDuration") ?? first(params, "Duration");
    const duration = durationText && /^\d+$/.test(durationText) ? Number(durationText) : undefined;
    log.info("call {callSid} status {status}", { callSid, status, duration });
    deps.onCallStatus?.({ callSid, callStatus: status, duration, params });
    return new Response(null, { status: 204 });
  }

  async function streamStatus(req: Request): Promise<Response> {
    const params = await signedForm(req);
    if (params instanceof Response) return params;
    const info: StreamStatusInfo = {
      callSid: first(params, "CallSid") ?? "",
      streamSid: first(params, "StreamSid") ?? "",
      streamEvent: first(params, "StreamEvent") ?? "",
      streamError: first(params, "StreamError"),
      params,
    };
    if (info.streamEvent === "stream-error") {
      log.error("media stream error for {callSid}: {streamError}", { ...info, params: undefined });
    } else {
      log.info("media stream {streamEvent} for {callSid}", { ...info, params: undefined });
    }
    deps.onStreamStatus?.(info);
    return new Response(null, { status: 204 });
  }

  return [
    { method: "POST", path: VOICE_PATH, handler: voice },
    { method: "GET", path: MEDIA_PATH, handler: (req, ctx) => media(req, ctx.remoteAddr) },
    { method: "POST", path: CALL_STATUS_PATH, handler: callStatus },
    { method: "POST", path: STREAM_STATUS_PATH, handler: streamStatus },
  ];
}
