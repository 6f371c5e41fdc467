/**
 * Call control over Twilio's REST API with `npm:twilio`: transfer a live call, hang up,
 * send an SMS. The client is built once; tests inject an `httpClient` that points it at a
 * local fake (see `tests/support/fake_twilio_rest.ts`).
 *
 * @module
 */
import twilio from "twilio";
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

/** Transfer, hang-up and SMS for live calls. Construct once per process. */
export class TwilioCallControl {
  readonly #client: twilio.Twilio;

  /** Builds the one twilio client. */
  constructor(options: TwilioCallControlOptions) {
    this.#client = twilio(options.accountSid, options.authToken, {
      httpClient: options.httpClient,
      timeout: options.timeoutMs ?? 10_000,
    });
  }

  /**
   * Redirects a live call to `<Dial>number</Dial>`. Twilio then sends `stop` on the media
   * socket (do not treat that `stop` as a hang-up).
   *
   * @throws {CallControlError} when Twilio refuses (e.g. the call already ended: 21220/20404)
   */
  async transfer(callSid: string, number: string): Promise<void> {
    try {
      await this.#client.calls(callSid).update({ twiml: transferTwiml(number) });
      log.info("call {callSid} transferred", { callSid, number });
    } catch (error) {
      const e = errorCode(error);
      log.error("transfer of {callSid} failed: {reason}", { callSid, ...reasonOf(e) });
      throw new CallControlError(`transfer failed: ${e.message}`, e.code, e.status);
    }
  }

  /**
   * Replaces what a live call runs with `twiml` (e.g. a spoken apology when its media
   * stream cannot be served). Twilio then sends `stop` on the media socket.
   *
   * @throws {CallControlError} when Twilio refuses (e.g. the call already ended)
   */
  async redirect(callSid: string, twiml: string): Promise<void> {
    try {
      await this.#client.calls(callSid).update({ twiml });
      log.info("call {callSid} redirected", { callSid });
    } catch (error) {
      const e = errorCode(error);
      log.error("redirect of {callSid} failed: {reason}", { callSid, ...reasonOf(e) });
      throw new CallControlError(`redirect failed: ${e.message}`, e.code, e.status);
    }
  }

  /** Ends a call. A call that is already gone is not an error (`"already_ended"`). */
  async hangUp(callSid: string): Promise<HangUpResult> {
    try {
      await this.#client.calls(callSid).update({ status: "completed" });
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

  /** Sends an SMS; returns the message SID. */
  async sendSms(to: string, from: string, body: string): Promise<{ sid: string }> {
    try {
      const message = await this.#client.messages.create({ to, from, body });
      log.info("SMS {sid} sent", { sid: message.sid });
      return { sid: message.sid };
    } catch (error) {
      const e = errorCode(error);
      log.error("SMS failed: {reason}", reasonOf(e));
      throw new CallControlError(`SMS failed: ${e.message}`, e.code, e.status);
    }
  }
}
