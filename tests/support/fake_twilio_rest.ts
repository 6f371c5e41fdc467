/**
 * A local fake of the Twilio REST endpoints the service uses, strict like the real API:
 * Basic auth, form bodies, known parameters only, Twilio's error JSON and codes.
 *
 * - `POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json` with `Twiml` or `Status=completed|canceled`
 * - `POST /2010-04-01/Accounts/{AC}/Calls.json`: places an outbound call (`calls.create`),
 *   answering-machine detection parameters checked against Twilio's documented values
 * - `GET  /2010-04-01/Accounts/{AC}/Calls/{CA}.json` and `GET …/Calls.json?To=&From=&StartTime>=`
 * - `POST /2010-04-01/Accounts/{AC}/Messages.json` with `To`, `From`, `Body`;
 *   `GET …/Messages.json?To=&From=&DateSent>=`
 *
 * Placed calls are then driven the way Twilio drives them, once {@linkcode FakeTwilioRest.drive}
 * named where the service listens: status callbacks (`initiated`, `ringing`, `answered`,
 * `completed` with the final status), the signed voice webhook when someone answers
 * (`AnsweredBy` in it with synchronous detection), the media stream answered by the
 * simulated caller (`src/sim`), and the asynchronous machine verdict. A REST redirect
 * (`Twiml`) or hang-up ends the stream with `stop`, like Twilio; a redirect's `<Say>` is
 * recorded as what the answering machine heard.
 *
 * Point a twilio client at it with {@linkcode RedirectingRequestClient}.
 *
 * @module
 */
import twilio from "twilio";
import {
  fakeSid,
  postSignedForm,
  postVoiceWebhook,
  TwilioCaller,
  type TwilioCallerOptions,
  voiceWebhookParams,
} from "../../src/sim/twilio_caller.ts";

/** One request the fake received (after auth). */
export interface RecordedRequest {
  method: string;
  path: string;
  form: Record<string, string>;
}

/** Rewrites every twilio API URL to `baseUrl` (same path), then uses the library's client. */
export class RedirectingRequestClient extends twilio.RequestClient {
  readonly #base: URL;
  /** @param baseUrl e.g. `http://127.0.0.1:4010` */
  constructor(baseUrl: string) {
    super({ keepAlive: false, timeout: 5000 });
    this.#base = new URL(baseUrl);
  }

  override request<TData>(opts: Parameters<twilio.RequestClient["request"]>[0] & { data?: TData }) {
    const url = new URL(opts.uri);
    url.protocol = this.#base.protocol;
    url.host = this.#base.host;
    return super.request<TData>({ ...opts, uri: url.href });
  }
}

/** How the callee of a placed call behaves. */
export interface CallScript {
  /** Who (or what) picks up, or why no one does; `reject`: Twilio refuses to place it. */
  answer: "human" | "machine" | "no-answer" | "busy" | "failed" | "reject";
  /** With `reject`: the error Twilio answers `calls.create` with. */
  error?: { status: number; code: number; message: string };
  /** The call is placed, but the REST answer waits for this (the client may be gone by then). */
  holdResponse?: Promise<unknown>;
  /** Nothing happens to the call (it stays queued) until this resolves. */
  startAfter?: Promise<unknown>;
  /** What the callee says once the stream is up (mu-law 8 kHz). */
  audio?: Uint8Array;
  /** Delay of the asynchronous machine verdict after the stream connects; default 300 ms. */
  amdAfterMs?: number;
  /** Called with the simulated callee once its media stream is connected. */
  onCaller?: (caller: TwilioCaller) => void;
}

/** A call placed through `calls.create`. */
export interface PlacedCall {
  sid: string;
  to: string;
  from: string;
  /** Every parameter as sent (repeated names keep every value). */
  params: Record<string, string[]>;
  createdMs: number;
  /** Twilio's status: queued, ringing, in-progress, completed, busy, no-answer, failed, canceled. */
  status: string;
  answeredBy?: string;
  /** The TwiML the voice webhook answered. */
  voiceTwiml?: string;
  /** TwiML the service redirected the live call to (`Twiml` updates), in order. */
  redirects: string[];
  /** The simulated callee, while the media stream is up. */
  caller?: TwilioCaller;
  /** Set by a REST `Status` update: how the call ends. */
  endWith?: string;
  /** The final status was posted. */
  finished: boolean;
  /** Resolves when the call is over (final status posted). */
  done: Promise<void>;
}

/** Where the fake delivers a placed call's webhooks. */
export interface DriveTarget {
  /** Where the service instances really listen (webhooks are spread over them in turn). */
  servers: string[];
  /** The public origin the service's URLs name (signatures are computed over it). */
  publicUrl: string;
  authToken: string;
}

/** Options of {@linkcode startFakeTwilioRest}. */
export interface FakeTwilioRestOptions {
  /** The script of a call to `to`; default: no one answers. */
  script?: (to: string) => CallScript;
}

const FINAL = new Set(["completed", "busy", "no-answer", "failed", "canceled"]);

const CREATE_PARAMS = new Set([
  "To",
  "From",
  "Url",
  "Method",
  "Twiml",
  "StatusCallback",
  "StatusCallbackMethod",
  "StatusCallbackEvent",
  "MachineDetection",
  "MachineDetectionTimeout",
  "MachineDetectionSpeechThreshold",
  "MachineDetectionSpeechEndThreshold",
  "MachineDetectionSilenceTimeout",
  "AsyncAmd",
  "AsyncAmdStatusCallback",
  "AsyncAmdStatusCallbackMethod",
  "Timeout",
  "TimeLimit",
]);

/** Twilio's documented ranges of the detection tuning parameters. */
const AMD_RANGES: Record<string, [number, number]> = {
  MachineDetectionTimeout: [3, 59],
  MachineDetectionSpeechThreshold: [1000, 6000],
  MachineDetectionSpeechEndThreshold: [500, 5000],
  MachineDetectionSilenceTimeout: [2000, 10000],
};

function twilioError(status: number, code: number, message: string): Response {
  return Response.json({
    code,
    message,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  }, { status });
}

/** Twilio's date format (RFC 2822, UTC). */
function rfc2822(ms: number): string {
  return new Date(ms).toUTCString().replace("GMT", "+0000");
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** The running fake. */
export type FakeTwilioRest = ReturnType<typeof startFakeTwilioRest>;

/** Starts the fake on a free loopback port. */
export function startFakeTwilioRest(
  accountSid: string,
  authToken: string,
  options: FakeTwilioRestOptions = {},
) {
  /** Calls by SID: inbound ones the tests dial (`in-progress`), and the placed ones. */
  const calls = new Map<string, string>();
  const requests: RecordedRequest[] = [];
  const placed: PlacedCall[] = [];
  const messages: { sid: string; to: string; from: string; body: string; createdMs: number }[] = [];
  /** `calls.create` requests, including refused ones. */
  let createRequests = 0;
  const scripts = new Map<string, CallScript>();
  let target: DriveTarget | undefined;
  let closing = false;
  let targetSet!: () => void;
  /** Resolves once the fake knows where to deliver webhooks (or is closing). */
  const targetKnown = new Promise<void>((r) => (targetSet = r));
  let nextServer = 0;
  const driving = new Set<Promise<void>>();
  /** Set to make call updates fail like a Twilio outage (HTTP 500, code 20500). */
  const fail = { transfer: false, hangUp: false };
  const expectedAuth = "Basic " + btoa(`${accountSid}:${authToken}`);
  const callPath = new URLPattern({
    pathname: "/2010-04-01/Accounts/:account/Calls/:call.json",
  });
  const callsPath = new URLPattern({ pathname: "/2010-04-01/Accounts/:account/Calls.json" });
  const messagesPath = new URLPattern({ pathname: "/2010-04-01/Accounts/:account/Messages.json" });

  function scriptFor(to: string): CallScript {
    return scripts.get(to) ?? options.script?.(to) ?? { answer: "no-answer" };
  }

  function callJson(c: PlacedCall) {
    return {
      sid: c.sid,
      account_sid: accountSid,
      to: c.to,
      from: c.from,
      status: c.status,
      answered_by: c.answeredBy ?? null,
      direction: "outbound-api",
      date_created: rfc2822(c.createdMs),
      date_updated: rfc2822(Date.now()),
      start_time: rfc2822(c.createdMs),
      uri: `/2010-04-01/Accounts/${accountSid}/Calls/${c.sid}.json`,
    };
  }

  /** Where the next webhook goes, and as whom it is signed. */
  function server(): Pick<TwilioCallerOptions, "serverUrl" | "publicUrl" | "authToken"> {
    if (!target) throw new Error("fake Twilio: drive() was not called");
    const serverUrl = target.servers[nextServer++ % target.servers.length];
    return { serverUrl, publicUrl: target.publicUrl, authToken: target.authToken };
  }

  /** The path and query of one of the service's public URLs. */
  function pathOf(url: string): string {
    const u = new URL(url);
    if (!target || u.origin !== new URL(target.publicUrl).origin) {
      throw new Error(`fake Twilio: ${url} is not under ${target?.publicUrl}`);
    }
    return u.pathname + u.search;
  }

  async function post(url: string | undefined, params: Record<string, string>): Promise<void> {
    if (!url) return;
    const res = await postSignedForm(server(), pathOf(url), { AccountSid: accountSid, ...params });
    await res.body?.cancel();
    if (res.status >= 300) throw new Error(`fake Twilio: ${url} answered ${res.status}`);
  }

  async function status(c: PlacedCall, event: string, callStatus: string, extra = {}) {
    const events = c.params.StatusCallbackEvent ?? [];
    if (event !== "completed" && !events.includes(event)) return;
    c.status = callStatus;
    calls.set(c.sid, callStatus);
    await post(c.params.StatusCallback?.[0], {
      CallSid: c.sid,
      From: c.from,
      To: c.to,
      Direction: "outbound-api",
      ApiVersion: "2010-04-01",
      CallStatus: callStatus,
      CallbackSource: "call-progress-events",
      Timestamp: new Date().toUTCString(),
      ...extra,
    });
  }

  async function finish(c: PlacedCall, callStatus: string): Promise<void> {
    if (c.finished) return;
    c.finished = true;
    await status(c, "completed", callStatus, {
      CallDuration: String(Math.round((Date.now() - c.createdMs) / 1000)),
    });
  }

  /** Plays the call the way Twilio would, then resolves when it is over. */
  async function drive(c: PlacedCall, script: CallScript): Promise<void> {
    await script.startAfter;
    await targetKnown;
    if (!target) return; // closed before anyone said where the service listens
    // A REST update may end the call at any point (cancelled while queued or ringing).
    if (c.endWith) return await finish(c, c.endWith);
    await status(c, "initiated", "queued");
    if (c.endWith) return await finish(c, c.endWith);
    await status(c, "ringing", "ringing");
    if (c.endWith) return await finish(c, c.endWith);
    if (script.answer !== "human" && script.answer !== "machine") {
      return await finish(c, script.answer);
    }
    c.status = "in-progress";
    calls.set(c.sid, "in-progress");
    await status(c, "answered", "in-progress");
    const detection = c.params.MachineDetection?.[0];
    const asyncAmd = c.params.AsyncAmd?.[0] === "true";
    const verdict = script.answer === "human" ? "human" : "machine_end_beep";
    const voice = {
      ...server(),
      voicePath: pathOf(c.params.Url[0]),
      callSid: c.sid,
      accountSid,
      from: c.from,
      to: c.to,
      audio: script.audio,
      extraParams: {
        Direction: "outbound-api",
        CallStatus: "in-progress",
        // Synchronous detection answers the webhook only once it knows, and says who.
        ...(detection && !asyncAmd ? { AnsweredBy: verdict } : {}),
      },
    };
    const params = voiceWebhookParams(voice);
    if (detection && !asyncAmd) c.answeredBy = verdict;
    const answer = await postVoiceWebhook(voice, params);
    c.voiceTwiml = answer.body;
    if (!answer.streamUrl) {
      // <Say>…<Hangup/>: played, then the call ends.
      return await finish(c, "completed");
    }
    const caller = await TwilioCaller.connect(voice, answer, params);
    c.caller = caller;
    script.onCaller?.(caller);
    let amdTimer: ReturnType<typeof setTimeout> | undefined;
    let amdDone = () => {};
    let amdSent = false;
    const amd = new Promise<void>((resolve) => (amdDone = resolve));
    if (detection && asyncAmd) {
      amdTimer = setTimeout(() => {
        amdSent = true;
        c.answeredBy = verdict;
        post(c.params.AsyncAmdStatusCallback?.[0], {
          CallSid: c.sid,
          AnsweredBy: verdict,
          MachineDetectionDuration: String(script.amdAfterMs ?? 300),
        }).catch((e) => console.error(e)).finally(amdDone);
      }, script.amdAfterMs ?? 300);
    } else amdDone();
    await caller.done;
    clearTimeout(amdTimer);
    if (!amdSent) amdDone(); // the call ended before detection had a verdict
    await amd;
    c.caller = undefined;
    await finish(c, "completed");
  }

  function create(form: URLSearchParams): Response {
    createRequests++;
    const params: Record<string, string[]> = {};
    for (const [k, v] of form) (params[k] ??= []).push(v);
    const unknown = Object.keys(params).filter((k) => !CREATE_PARAMS.has(k));
    if (unknown.length) return twilioError(400, 20001, `unknown parameters ${unknown.join(",")}`);
    const to = params.To?.[0] ?? "";
    const from = params.From?.[0] ?? "";
    if (!E164.test(to)) {
      return twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    }
    if (!E164.test(from)) return twilioError(400, 21212, `Invalid 'From' number ${from}`);
    if (!params.Url?.[0] && !params.Twiml?.[0]) {
      return twilioError(400, 21205, "Url or Twiml is required");
    }
    const detection = params.MachineDetection?.[0];
    if (detection !== undefined && detection !== "Enable" && detection !== "DetectMessageEnd") {
      return twilioError(400, 21206, `Invalid MachineDetection ${detection}`);
    }
    const asyncAmd = params.AsyncAmd?.[0];
    if (asyncAmd !== undefined && asyncAmd !== "true" && asyncAmd !== "false") {
      return twilioError(400, 21206, `Invalid AsyncAmd ${asyncAmd}`);
    }
    for (const [name, [min, max]] of Object.entries(AMD_RANGES)) {
      const v = params[name]?.[0];
      if (v !== undefined && !(Number(v) >= min && Number(v) <= max)) {
        return twilioError(400, 21206, `${name} must be between ${min} and ${max}`);
      }
    }
    for (const e of params.StatusCallbackEvent ?? []) {
      if (!["initiated", "ringing", "answered", "completed"].includes(e)) {
        return twilioError(400, 21626, `Invalid StatusCallbackEvent ${e}`);
      }
    }
    const script = scriptFor(to);
    if (script.answer === "reject") {
      const e = script.error ?? { status: 400, code: 21215, message: "Geo permission" };
      return twilioError(e.status, e.code, e.message);
    }
    let resolveDone!: () => void;
    const c: PlacedCall = {
      sid: fakeSid("CA"),
      to,
      from,
      params,
      createdMs: Date.now(),
      status: "queued",
      redirects: [],
      finished: false,
      done: new Promise((r) => (resolveDone = r)),
    };
    placed.push(c);
    calls.set(c.sid, "queued");
    const run = (async () => {
      try {
        await drive(c, script);
      } catch (error) {
        console.error(`fake Twilio: driving ${c.sid} failed:`, error);
      } finally {
        resolveDone();
      }
    })();
    driving.add(run);
    void run.finally(() => driving.delete(run));
    return Response.json(callJson(c), { status: 201 });
  }

  async function update(sid: string, form: Record<string, string>, path: string) {
    const unknown = Object.keys(form).filter((k) =>
      !["Twiml", "Status", "Url", "Method"].includes(k)
    );
    if (unknown.length) return twilioError(400, 20001, `unknown parameters ${unknown.join(",")}`);
    if (form.Status !== undefined && form.Status !== "completed" && form.Status !== "canceled") {
      return twilioError(400, 21218, "Invalid call state");
    }
    if (
      form.Twiml !== undefined &&
      !/^<\?xml[^>]*\?>\s*<Response>[\s\S]*<\/Response>$/.test(form.Twiml)
    ) {
      return twilioError(400, 12100, "Document parse failure");
    }
    if ((form.Twiml !== undefined && fail.transfer) || (form.Status && fail.hangUp)) {
      return twilioError(500, 20500, "Internal Server Error");
    }
    const state = calls.get(sid);
    if (state === undefined) {
      return twilioError(404, 20404, `The requested resource /Calls/${sid}.json was not found`);
    }
    if (FINAL.has(state)) {
      return twilioError(400, 21220, "Call is not in-progress. Cannot redirect.");
    }
    const c = placed.find((p) => p.sid === sid);
    if (form.Status === "canceled" && state === "in-progress") {
      return twilioError(
        400,
        21220,
        "Call is in-progress: only a queued or ringing call can be canceled.",
      );
    }
    if (form.Status) {
      // Ends the call; Twilio stops the stream (the driver then reports the final status).
      calls.set(sid, form.Status);
      if (c) {
        c.endWith = form.Status;
        await c.caller?.hangUp();
      }
    } else if (form.Twiml !== undefined && c) {
      // New TwiML: the stream stops; a <Say>…<Hangup/> plays to the end, then the call is over.
      c.redirects.push(form.Twiml);
      await c.caller?.hangUp();
    }
    return Response.json({
      sid,
      account_sid: accountSid,
      status: form.Status ?? "in-progress",
      uri: path,
      date_created: rfc2822(c?.createdMs ?? Date.now()),
    });
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (req.headers.get("authorization") !== expectedAuth) {
      await req.body?.cancel();
      return twilioError(401, 20003, "Authenticate");
    }
    const call = callPath.exec(url);
    const list = callsPath.exec(url);
    const msg = messagesPath.exec(url);
    const account = call?.pathname.groups.account ?? list?.pathname.groups.account ??
      msg?.pathname.groups.account;
    if (req.method === "GET") {
      requests.push({ method: "GET", path: url.pathname + url.search, form: {} });
      if (account !== accountSid) return twilioError(404, 20404, "not found");
      const q = url.searchParams;
      const since = (name: string) => {
        const v = q.get(`${name}>`);
        return v ? Date.parse(v) : 0;
      };
      if (call) {
        const c = placed.find((p) => p.sid === call.pathname.groups.call);
        return c ? Response.json(callJson(c)) : twilioError(404, 20404, "not found");
      }
      const page = (key: string, items: unknown[]) =>
        Response.json({
          [key]: items,
          page: 0,
          page_size: 50,
          start: 0,
          end: items.length,
          uri: url.pathname,
          first_page_uri: url.pathname,
          next_page_uri: null,
          previous_page_uri: null,
        });
      if (list) {
        const from = since("StartTime");
        return page(
          "calls",
          placed.filter((c) =>
            (!q.get("To") || c.to === q.get("To")) &&
            (!q.get("From") || c.from === q.get("From")) &&
            c.createdMs >= from
          ).reverse().map(callJson),
        );
      }
      if (msg) {
        const from = since("DateSent");
        return page(
          "messages",
          messages.filter((m) =>
            (!q.get("To") || m.to === q.get("To")) &&
            (!q.get("From") || m.from === q.get("From")) &&
            m.createdMs >= from
          ).reverse().map((m) => ({
            sid: m.sid,
            account_sid: accountSid,
            to: m.to,
            from: m.from,
            body: m.body,
            status: "sent",
            date_created: rfc2822(m.createdMs),
            date_sent: rfc2822(m.createdMs),
          })),
        );
      }
      return twilioError(404, 20404, "The requested resource was not found");
    }
    if (req.method !== "POST") return twilioError(405, 20004, "Method not allowed");
    if (!req.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded")) {
      await req.body?.cancel();
      return twilioError(400, 20001, "expected a form body");
    }
    const body = new URLSearchParams(await req.text());
    const form = Object.fromEntries(body);
    requests.push({ method: req.method, path: url.pathname, form });
    if (account !== accountSid) {
      return twilioError(404, 20404, "The requested resource was not found");
    }
    if (list) {
      const response = create(body);
      const c = placed.at(-1);
      const hold = c && c.to === form.To ? scriptFor(form.To).holdResponse : undefined;
      if (hold && response.status === 201) await hold;
      return response;
    }
    if (call) return await update(call.pathname.groups.call ?? "", form, url.pathname);
    if (msg) {
      const missing = ["To", "From", "Body"].filter((k) => !form[k]);
      if (missing.length) return twilioError(400, 21604, `missing ${missing.join(",")}`);
      if (!E164.test(form.To)) {
        return twilioError(400, 21211, `The 'To' number ${form.To} is not a valid phone number.`);
      }
      const m = {
        sid: "SM" + crypto.randomUUID().replaceAll("-", ""),
        to: form.To,
        from: form.From,
        body: form.Body,
        createdMs: Date.now(),
      };
      messages.push(m);
      return Response.json({
        sid: m.sid,
        account_sid: accountSid,
        to: m.to,
        from: m.from,
        body: m.body,
        status: "queued",
        date_created: rfc2822(m.createdMs),
      }, { status: 201 });
    }
    return twilioError(404, 20404, "The requested resource was not found");
  }

  const server_ = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  const baseUrl = `http://127.0.0.1:${server_.addr.port}`;
  return {
    baseUrl,
    calls,
    requests,
    /** Calls placed with `calls.create` (refused ones are not in here). */
    placed,
    /** Texts sent. */
    messages,
    /** `calls.create` requests received, refused ones included. */
    get createRequests(): number {
      return createRequests;
    },
    fail,
    /** A client for `TwilioCallControl({ httpClient })`. */
    httpClient: new RedirectingRequestClient(baseUrl),
    /** Starts delivering placed calls' webhooks to the service. */
    drive(t: DriveTarget): void {
      if (closing) return;
      target = t;
      targetSet();
    },
    /** Sets how calls to `to` go. */
    script(to: string, script: CallScript): void {
      scripts.set(to, script);
    },
    /** Waits until every placed call is over, then stops the server. */
    async close(): Promise<void> {
      closing = true;
      targetSet();
      for (const c of placed) if (c.caller) await c.caller.hangUp();
      await Promise.all([...driving]);
      await server_.shutdown();
    },
  };
}
