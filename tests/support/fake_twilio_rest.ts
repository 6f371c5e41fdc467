/**
 * A local fake of the few Twilio REST endpoints the service uses, strict like the real
 * API: Basic auth, form bodies, known parameters only, Twilio's error JSON and codes.
 *
 * - `POST /2010-04-01/Accounts/{AC}/Calls/{CA}.json` with `Twiml` or `Status=completed`
 * - `POST /2010-04-01/Accounts/{AC}/Messages.json` with `To`, `From`, `Body`
 *
 * Point a twilio client at it with {@linkcode RedirectingRequestClient}.
 *
 * @module
 */
import twilio from "twilio";

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

function twilioError(status: number, code: number, message: string): Response {
  return Response.json({
    code,
    message,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  }, { status });
}

/** Starts the fake on a free loopback port. */
export function startFakeTwilioRest(accountSid: string, authToken: string) {
  /** Live calls by SID: `in-progress` or `completed`. */
  const calls = new Map<string, "in-progress" | "completed">();
  const requests: RecordedRequest[] = [];
  /** Set to make call updates fail like a Twilio outage (HTTP 500, code 20500). */
  const fail = { transfer: false, hangUp: false };
  const expectedAuth = "Basic " + btoa(`${accountSid}:${authToken}`);
  const callPath = new URLPattern({
    pathname: "/2010-04-01/Accounts/:account/Calls/:call.json",
  });
  const messagesPath = new URLPattern({ pathname: "/2010-04-01/Accounts/:account/Messages.json" });

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (req.headers.get("authorization") !== expectedAuth) {
      await req.body?.cancel();
      return twilioError(401, 20003, "Authenticate");
    }
    if (req.method !== "POST") return twilioError(405, 20004, "Method not allowed");
    if (!req.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded")) {
      await req.body?.cancel();
      return twilioError(400, 20001, "expected a form body");
    }
    const form = Object.fromEntries(new URLSearchParams(await req.text()));
    requests.push({ method: req.method, path: url.pathname, form });
    const call = callPath.exec(url);
    const msg = messagesPath.exec(url);
    const account = call?.pathname.groups.account ?? msg?.pathname.groups.account;
    if (account !== accountSid) {
      return twilioError(404, 20404, "The requested resource was not found");
    }
    if (call) {
      const sid = call.pathname.groups.call ?? "";
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
      if (state === "completed") {
        return twilioError(400, 21220, "Call is not in-progress. Cannot redirect.");
      }
      // A Twiml redirect ends the stream but not the call; Status=completed ends the call.
      if (form.Status) calls.set(sid, "completed");
      return Response.json({
        sid,
        account_sid: accountSid,
        status: form.Status ?? "in-progress",
        uri: url.pathname,
      });
    }
    if (msg) {
      const missing = ["To", "From", "Body"].filter((k) => !form[k]);
      if (missing.length) return twilioError(400, 21604, `missing ${missing.join(",")}`);
      if (!/^\+[1-9]\d{6,14}$/.test(form.To)) {
        return twilioError(400, 21211, `The 'To' number ${form.To} is not a valid phone number.`);
      }
      return Response.json({
        sid: "SM" + crypto.randomUUID().replaceAll("-", ""),
        account_sid: accountSid,
        to: form.To,
        from: form.From,
        body: form.Body,
        status: "queued",
      }, { status: 201 });
    }
    return twilioError(404, 20404, "The requested resource was not found");
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  const baseUrl = `http://127.0.0.1:${server.addr.port}`;
  return {
    baseUrl,
    calls,
    requests,
    fail,
    /** A client for `TwilioCallControl({ httpClient })`. */
    httpClient: new RedirectingRequestClient(baseUrl),
    close: () => server.shutdown(),
  };
}
