/**
 * Call control over Twilio's REST API with `npm:twilio`: transfer a live call, hang up,
 * send an SMS; for reminders, place a call with answering-machine detection, look calls and
 * messages up, cancel or redirect a call. The client is built once; tests inject an `httpClient` that points it at a
 * local fake (see `tests/support/fake_twilio_rest.ts`).
 *
 * The twilio package's root (its REST client with axios, jsonwebtoken, ...) is loaded on the
 * first request, not at start: ~10 MiB of idle RSS (BENCHMARKS.md) that a service without
 * transfers, hang-ups, SMS or reminders never needs. The first request waits once for it
 * to load (0.2-0.35 s on the build machine). The `import("twilio")` is a string literal, so
 * `deno compile` still embeds it.
 *
 * @module
 */
import type twilio from "twilio";
import { logger } from "../log.ts";
import { transferTwiml } from "./twiml.ts";

const log = logger("twilio", "rest");

/** Twilio error: the resource (call) does not exist any more. */
export const ERROR_NOT_FOUND = 20404;
/** Twilio error: the call is not in progress (already ended), so it cannot be modified. */
export const ERROR_CALL_NOT_IN_PROGRESS = 21220;

/** Options of {@linkcode TwilioCallControl}. */
export interface TwilioCallControlOptions {
  accountSid: string;
  authToken: string;
  /** HTTP client for the twilio library (tests); default the library's own. */
  httpClient?: twilio.RequestClient;
  /** Request timeout in ms; default 10 000. */
  timeoutMs?: number;
}

/** A failed REST call, with Twilio's error code when it sent one. */
export class CallControlError extends Error {
  /** @param code Twilio error code (e.g. 21220), when known */
  constructor(message: string, readonly code?: number, readonly status?: number) {
    super(message);
    this.name = "CallControlError";
  }
}

/** An outbound call to place (reminders), with answering-machine detection. */
export interface PlaceCallParams {
  to: string;
  from: string;
  /** Voice webhook fetched when the call is answered (absolute, signed by us). */
  url: string;
  /** Call progress events go here (initiated, ringing, answered, completed). */
  statusCallback: string;
  /**
   * Asynchronous answering-machine detection: the call runs `url` at once and the verdict
   * (`AnsweredBy`) is POSTed here. With `DetectMessageEnd` a machine's verdict comes after
   * its greeting and beep (`machine_end_beep` / `_silence` / `_other`), the moment to speak.
   */
  amdCallback: string;
  /** Seconds to let it ring (Twilio `Timeout`). */
  ringSeconds: number;
  /** Longest call, seconds (Twilio `TimeLimit`). */
  timeLimitSeconds: number;
}

/** A call as Twilio reports it. */
export interface CallInfo {
  sid: string;
  /** `queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`, `no-answer`, `canceled`. */
  status: string;
  /** Answering-machine verdict, when detection ran. */
  answeredBy?: string;
  /** When Twilio created it (epoch ms). */
  createdMs: number;
}

/** Outcome of {@linkcode TwilioCallControl.hangUp}. */
export type HangUpResult = "completed" | "already_ended";

interface TwilioErrorShape {
  code?: unknown;
  status?: unknown;
  message?: unknown;
}

function errorCode(error: unknown): { code?: number; status?: number; message: string } {
  const e = (typeof error === "object" && error !== null ? error : {}) as TwilioErrorShape;
  return {
    code: typeof e.code === "number" ? e.code : undefined,
    status: typeof e.status === "number" ? e.status : undefined,
    message: typeof e.message === "string" ? e.message : String(error),
  };
}

/** Log properties of a REST error (`reason`, never `message`: that names the log line itself). */
function reasonOf(e: { code?: number; status?: number; message: string }) {
  return { code: e.code, status: e.status, reason: e.message };
}

function callInfo(
  call: { sid: string; status: string; answeredBy?: string | null; dateCreated: Date },
): CallInfo {
  return {
    sid: call.sid,
    status: call.status,
    ...(call.answeredBy ? { answeredBy: call.answeredBy } : {}),
    createdMs: call.dateCreated.getTime(),
  };
}

/** Transfer, hang-up and SMS for live calls. Construct once per process. */
export class TwilioCallControl {
  readonly #options: TwilioCallControlOptions;
  #loading?: Promise<twilio.Twilio>;

  /** Keeps the credentials; the twilio client is built on the first request. */
  constructor(options: TwilioCallControlOptions) {
    this.#options = options;
  }

  /** The one twilio client, its library loaded by the first caller (concurrent callers share it). */
  #client(): Promise<twilio.Twilio> {
    this.#loading ??= import("twilio").then(({ default: twilio }) =>
      twilio(this.#options.accountSid, this.#options.authToken, {
        httpClient: this.#options.httpClient,
        timeout: this.#options.timeoutMs ?? 10_000,
      })
    );
    return this.#loading;
  }

  /**
   * Redirects a live call to `<Dial>number</Dial>`. Twilio then sends `stop` on the media
   * socket (do not treat that `stop` as a hang-up).
   *
   * @throws {CallControlError} when Twilio refuses (e.g. the call already ended: 21220/20404)
   */
  async transfer(callSid: string, number: string): Promise<void> {
    try {
      const client = await this.#client();
      await client.calls(callSid).update({ twiml: transferTwiml(number) });
      log.info("call {callSid} transferred", { callSid, number });
    } catch (error) {
      const e = errorCode(error);
      log.error("transfer of {callSid} failed: {reason}", { callSid, ...reasonOf(e) });
      throw new CallControlError(`transfer failed: ${e.message}`, e.code, e.status);
    }
  }

  /** Ends a call. A call that is already gone is not an error (`"already_ended"`). */
  async hangUp(callSid: string): Promise<HangUpResult> {
    try {
      const client = await this.#client();
      await client.calls(callSid).update({ status: "completed" });
      log.info("call {callSid} hung up", { callSid });
      return "completed";
    } catch (error) {
      const e = errorCode(error);
      if (e.code === ERROR_NOT_FOUND || e.code === ERROR_CALL_NOT_IN_PROGRESS) {
        log.info("call {callSid} had already ended", { callSid, code: e.code });
        return "already_ended";
      }
      log.error("hang-up of {callSid} failed: {reason}", { callSid, ...reasonOf(e) });
      throw new CallControlError(`hang-up failed: ${e.message}`, e.code, e.status);
    }
  }

  /**
   * Places an outbound call with answering-machine detection (`DetectMessageEnd`, async):
   * a person hears the agent at once; for a machine the verdict comes after the beep.
   * Tuning: detection gives up after 30 s (`unknown`); speech over 2.4 s means a machine's
   * greeting; 1.2 s of silence ends a greeting; 5 s of initial silence is `unknown`.
   *
   * @throws {CallControlError} with `status` set when Twilio answered with an error (the call
   *   was not placed); without `status` when the request failed in transit (it may have been).
   */
  async placeCall(p: PlaceCallParams): Promise<CallInfo> {
    try {
      const client = await this.#client();
      const call = await client.calls.create({
        to: p.to,
        from: p.from,
        url: p.url,
        method: "POST",
        statusCallback: p.statusCallback,
        statusCallbackMethod: "POST",
        statusCallbackEvent: ["initiated", "ringing", "answered", "completed"],
        machineDetection: "DetectMessageEnd",
        asyncAmd: "true",
        asyncAmdStatusCallback: p.amdCallback,
        asyncAmdStatusCallbackMethod: "POST",
        machineDetectionTimeout: 30,
        machineDetectionSpeechThreshold: 2400,
        machineDetectionSpeechEndThreshold: 1200,
        machineDetectionSilenceTimeout: 5000,
        timeout: p.ringSeconds,
        timeLimit: p.timeLimitSeconds,
      });
      log.info("call {callSid} placed", { callSid: call.sid });
      return callInfo(call);
    } catch (error) {
      const e = errorCode(error);
      log.error("placing a call failed: {reason}", reasonOf(e));
      throw new CallControlError(`placing the call failed: ${e.message}`, e.code, e.status);
    }
  }

  /** A call's current status. */
  async fetchCall(callSid: string): Promise<CallInfo> {
    try {
      const client = await this.#client();
      return callInfo(await client.calls(callSid).fetch());
    } catch (error) {
      const e = errorCode(error);
      throw new CallControlError(`fetching ${callSid} failed: ${e.message}`, e.code, e.status);
    }
  }

  /** Calls from `from` to `to` created at or after `sinceMs` (newest first). */
  async findCalls(q: { to: string; from: string; sinceMs: number }): Promise<CallInfo[]> {
    try {
      const client = await this.#client();
      const calls = await client.calls.list({
        to: q.to,
        from: q.from,
        startTimeAfter: new Date(q.sinceMs - 86_400_000), // the filter has day granularity
        limit: 50,
      });
      return calls.map(callInfo).filter((c) => c.createdMs >= q.sinceMs);
    } catch (error) {
      const e = errorCode(error);
      throw new CallControlError(`listing calls failed: ${e.message}`, e.code, e.status);
    }
  }

  /**
   * Cancels a call that is queued or ringing, or ends it if it was answered meanwhile. A
   * call that is already over is not an error.
   */
  async cancelCall(callSid: string): Promise<void> {
    try {
      const client = await this.#client();
      await client.calls(callSid).update({ status: "canceled" });
      log.info("call {callSid} cancelled", { callSid });
    } catch (error) {
      const e = errorCode(error);
      if (e.code === ERROR_CALL_NOT_IN_PROGRESS || e.code === ERROR_NOT_FOUND) {
        await this.hangUp(callSid);
        return;
      }
      throw new CallControlError(`cancelling ${callSid} failed: ${e.message}`, e.code, e.status);
    }
  }

  /**
   * Replaces a live call's TwiML (e.g. a voicemail message after the beep, or a spoken
   * apology when its media stream cannot be served).
   */
  async redirect(callSid: string, twiml: string): Promise<void> {
    try {
      const client = await this.#client();
      await client.calls(callSid).update({ twiml });
      log.info("call {callSid} redirected", { callSid });
    } catch (error) {
      const e = errorCode(error);
      log.error("redirect of {callSid} failed: {reason}", { callSid, ...reasonOf(e) });
      throw new CallControlError(`redirect failed: ${e.message}`, e.code, e.status);
    }
  }

  /** Messages from `from` to `to` created at or after `sinceMs`. */
  async findMessages(
    q: { to: string; from: string; sinceMs: number },
  ): Promise<{ sid: string; createdMs: number }[]> {
    try {
      const client = await this.#client();
      const messages = await client.messages.list({
        to: q.to,
        from: q.from,
        dateSentAfter: new Date(q.sinceMs - 86_400_000),
        limit: 50,
      });
      return messages.map((m) => ({ sid: m.sid, createdMs: m.dateCreated.getTime() }))
        .filter((m) => m.createdMs >= q.sinceMs);
    } catch (error) {
      const e = errorCode(error);
      throw new CallControlError(`listing messages failed: ${e.message}`, e.code, e.status);
    }
  }

  /** Sends an SMS; returns the message SID. */
  async sendSms(to: string, from: string, body: string): Promise<{ sid: string }> {
    try {
      const client = await this.#client();
      const message = await client.messages.create({ to, from, body });
      log.info("SMS {sid} sent", { sid: message.sid });
      return { sid: message.sid };
    } catch (error) {
      const e = errorCode(error);
      log.error("SMS failed: {reason}", reasonOf(e));
      throw new CallControlError(`SMS failed: ${e.message}`, e.code, e.status);
    }
  }
}
