/**
 * Signed reminder links: every URL Twilio calls back for a reminder call (voice webhook,
 * answering-machine verdict, status) and the call's media-stream parameters name the
 * reminder (`r` = booking id, `n` = attempt) and carry an HMAC of both, keyed from the
 * Twilio auth token. Twilio's own signature proves a request came from Twilio; this one
 * proves the reminder named in it is one this service dialled, so no one can point a call
 * at a booking it was not placed for. Any instance can check any link.
 *
 * @module
 */

import { derivedHmacKey } from "../hmac_keys.ts";

const encoder = new TextEncoder();

/** Path of the reminder call's voice webhook. */
export const REMINDER_VOICE_PATH = "/twilio/reminders/voice";
/** Path of the asynchronous answering-machine verdict. */
export const REMINDER_AMD_PATH = "/twilio/reminders/amd";
/** Path of the reminder call's status callback. */
export const REMINDER_STATUS_PATH = "/twilio/reminders/status";
/** Path of the SMS webhook (replies such as STOP); set it as the number's messaging webhook. */
export const SMS_PATH = "/twilio/sms";

/** Stream `<Parameter>` names that carry a reminder into the media stream. */
export const STREAM_PARAMS = { reminder: "reminder", attempt: "attempt", sig: "reminderSig" };

/** A reminder attempt named by a link. */
export interface ReminderRef {
  bookingId: string;
  attempt: number;
}

/** Issues and checks reminder links. Create once with {@linkcode ReminderLinks.create}. */
export class ReminderLinks {
  readonly #key: CryptoKey;
  readonly #origin: string;

  private constructor(key: CryptoKey, origin: string) {
    this.#key = key;
    this.#origin = origin;
  }

  /** Derives a key of its own from the auth token (separate from call tokens and signatures). */
  static async create(authToken: string, publicUrl: string): Promise<ReminderLinks> {
    const key = await derivedHmacKey(authToken, "voice-agent reminder link");
    return new ReminderLinks(key, new URL(publicUrl).origin);
  }

  /** The signature of one reminder attempt (base64url). */
  async sign(ref: ReminderRef): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", this.#key, encoder.encode(message(ref)));
    return new Uint8Array(mac).toBase64({ alphabet: "base64url", omitPadding: true });
  }

  /**
   * The absolute public URL of `path` for a reminder attempt, e.g.
   * `https://voice.example.com/twilio/reminders/voice?r=K7M4QX&n=1&s=…`.
   */
  async url(path: string, ref: ReminderRef): Promise<string> {
    const query = new URLSearchParams({
      r: ref.bookingId,
      n: String(ref.attempt),
      s: await this.sign(ref),
    });
    return `${this.#origin}${path}?${query}`;
  }

  /** The reminder a link's query (or stream parameters) names, when its signature holds. */
  async verify(
    bookingId: string | undefined | null,
    attempt: string | undefined | null,
    sig: string | undefined | null,
  ): Promise<ReminderRef | undefined> {
    if (!bookingId || !attempt || !sig) return undefined;
    if (!/^[0-9A-Z]{1,32}$/.test(bookingId) || !/^[1-9]\d{0,3}$/.test(attempt)) return undefined;
    if (sig.length > 64) return undefined;
    let mac: Uint8Array<ArrayBuffer>;
    try {
      mac = Uint8Array.fromBase64(sig, { alphabet: "base64url" });
    } catch {
      return undefined;
    }
    const ref = { bookingId, attempt: Number(attempt) };
    // WebCrypto's HMAC verify compares in constant time.
    const ok = await crypto.subtle.verify("HMAC", this.#key, mac, encoder.encode(message(ref)));
    return ok ? ref : undefined;
  }
}

function message(ref: ReminderRef): string {
  return `reminder\n${ref.bookingId}\n${ref.attempt}`;
}
