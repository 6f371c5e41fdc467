/**
 * The HTTP routes Twilio talks to: the voice webhook (answers with TwiML), the media
 * WebSocket, and the call and stream status callbacks. Every request is signature-checked
 * against the configured public URL before anything else happens.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { BodyTooLargeError, readBodyLimited, type Route } from "../http.ts";
import { logger } from "../log.ts";
import { CallTokenSigner } from "./call_token.ts";
import { CloseCode, TwilioStream } from "./media_stream.ts";
import {
  CALL_STATUS_PATH,
  MEDIA_PATH,
  STREAM_STATUS_PATH,
  type StreamStart,
  VOICE_PATH,
} from "./protocol.ts";
import {
  mediaStreamUrl,
  parseForm,
  type TwilioParams,
  TwilioSignatureVerifier,
  webhookUrl,
} from "./signature.ts";
import { busyTwiml, streamTwiml } from "./twiml.ts";

const log = logger("twilio", "routes");

/** What an operator checks when genuine Twilio requests fail the signature check. */
const SIGNATURE_HINT = "if Twilio sent it, PUBLIC_URL must be the public URL Twilio calls and " +
  "TWILIO_AUTH_TOKEN the auth token of the Twilio account that owns the number";

/** Name of the `<Parameter>` carrying the call token. */
export const CALL_TOKEN_PARAM = "callToken";

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
  /** Pre-warm hook: called once the call is accepted, before the TwiML is returned. */
  onIncomingCall?(info: IncomingCallInfo): void;
  /** A verified media stream (signature + call token checked); its consumer must `attach`. */
  onStream(stream: TwilioStream, start: StreamStart): void;
  onCallStatus?(status: CallStatusInfo): void;
  onStreamStatus?(status: StreamStatusInfo): void;
  /** Largest webhook body accepted; default 64 KiB. */
  maxBodyBytes?: number;
  /** How long the media socket may wait for `start`; default 5000 ms. */
  startTimeoutMs?: number;
  /** Token signer; default derived from the auth token (inject to share one or to set a clock). */
  callTokens?: CallTokenSigner;
}

const FORM_TYPE = "application/x-www-form-urlencoded";

function xml(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/xml; charset=utf-8" } });
}

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

function first(params: TwilioParams, name: string): string | undefined {
  const v = params[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Builds the Twilio routes. */
export function twilioRoutes(deps: TwilioRouteDeps): Route[] {
  const { config } = deps;
  const verifier = new TwilioSignatureVerifier(config);
  const maxBody = deps.maxBodyBytes ?? 64 * 1024;
  const startTimeoutMs = deps.startTimeoutMs ?? 5000;
  let signer: Promise<CallTokenSigner> | undefined = deps.callTokens
    ? Promise.resolve(deps.callTokens)
    : undefined;
  const tokens = () => signer ??= CallTokenSigner.create(config.twilio.authToken);

  /** Reads, parses and verifies a signed webhook; a Response means "stop here". */
  async function signedForm(req: Request): Promise<TwilioParams | Response> {
    const url = new URL(req.url);
    const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== FORM_TYPE) {
      await req.body?.cancel();
      log.warn("rejected {path}: content type {type}", { path: url.pathname, type });
      return plain(415, `expected ${FORM_TYPE}`);
    }
    let body: string;
    try {
      body = await readBodyLimited(req, maxBody);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        log.warn("rejected {path}: body over {limit} bytes", {
          path: url.pathname,
          limit: maxBody,
        });
        return plain(413, "body too large");
      }
      throw error;
    }
    const params = parseForm(body);
    const signature = req.headers.get("x-twilio-signature");
    if (!verifier.verifyWebhook(signature, url.pathname + url.search, params)) {
      log.warn("rejected {path}: invalid Twilio signature ({why}) for {url}; {hint}", {
        path: url.pathname,
        why: signature ? "mismatch" : "missing header",
        url: webhookUrl(config.publicUrl, url.pathname + url.search),
        hint: SIGNATURE_HINT,
        callSid: first(params, "CallSid"),
      });
      return plain(403, "forbidden");
    }
    const accountSid = first(params, "AccountSid");
    if (config.twilio.accountSid && accountSid !== config.twilio.accountSid) {
      log.warn("rejected {path}: AccountSid {accountSid} is not ours", {
        path: url.pathname,
        accountSid,
      });
      return plain(403, "forbidden");
    }
    return params;
  }

  async function voice(req: Request): Promise<Response> {
    const params = await signedForm(req);
    if (params instanceof Response) return params;
    const callSid = first(params, "CallSid");
    if (!callSid) return plain(400, "missing CallSid");
    const from = first(params, "From") ?? "";
    const to = first(params, "To") ?? "";
    const admission = deps.admission();
    if (!admission.accept) {
      log.info("call {callSid} not taken: {reason}", { callSid, reason: admission.reason });
      return xml(busyTwiml({ transferNumber: config.transferNumber }));
    }
    const callToken = await (await tokens()).issue(callSid);
    try {
      deps.onIncomingCall?.({ callSid, from, to, params });
    } catch (error) {
      log.error("onIncomingCall failed for {callSid}: {error}", { callSid, error });
    }
    log.info("incoming call {callSid}", { callSid });
    return xml(streamTwiml({
      publicUrl: config.publicUrl,
      parameters: { [CALL_TOKEN_PARAM]: callToken, from, to },
    }));
  }

  function media(req: Request): Response {
    if ((req.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
      return plain(426, "expected a WebSocket upgrade");
    }
    // Headers are only readable before the upgrade: verify first.
    const signature = req.headers.get("x-twilio-signature");
    if (!verifier.verifyMediaUpgrade(signature)) {
      log.warn("rejected media socket: invalid Twilio signature ({why}) for {url}; {hint}", {
        why: signature ? "mismatch" : "missing header",
        url: mediaStreamUrl(config.publicUrl),
        hint: SIGNATURE_HINT,
      });
      return plain(403, "forbidden");
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    // Messages after `start` are held by the stream until the call attaches.
    const stream = new TwilioStream(socket);
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

  async function accept(stream: TwilioStream, start: StreamStart): Promise<void> {
    const callSid = start.callSid;
    const ok = await (await tokens()).verify(start.customParameters[CALL_TOKEN_PARAM], callSid);
    if (stream.closed) return;
    if (!ok) {
      log.warn("rejected media stream for {callSid}: invalid call token", { callSid });
      stream.close(CloseCode.policy, "invalid call token");
      return;
    }
    if (config.twilio.accountSid && start.accountSid !== config.twilio.accountSid) {
      log.warn("rejected media stream for {callSid}: foreign account", { callSid });
      stream.close(CloseCode.policy, "invalid account");
      return;
    }
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
    { method: "GET", path: MEDIA_PATH, handler: media },
    { method: "POST", path: CALL_STATUS_PATH, handler: callStatus },
    { method: "POST", path: STREAM_STATUS_PATH, handler: streamStatus },
  ];
}
