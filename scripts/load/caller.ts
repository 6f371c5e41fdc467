/**
 * A lean fake Twilio caller for load runs: places the call like Twilio (signed voice
 * webhook, signed media upgrade, `connected` + `start`), sends a stamped 20 ms mu-law
 * frame every 20 ms from its process's {@linkcode Ticker}, and plays what it receives in
 * real time: marks are echoed once the audio before them has played, `clear` drops the
 * buffer and echoes pending marks (as Twilio does). Outbound messages from the bridge are
 * checked for Twilio's exact shapes (extra fields or a wrong streamSid are violations).
 * Every send and arrival is written down with its wall-clock time ({@linkcode CallRecord});
 * the coordinator joins it with the fake model's records after the run.
 *
 * @module
 */
import {
  fakeSid,
  parseStreamTwiml,
  startMessage,
  voiceWebhookParams,
} from "../../src/sim/twilio_caller.ts";
import { signTwilioRequest } from "../../src/twilio/signature.ts";
import { NoDelayWebSocket } from "./nodelay_websocket.ts";
import {
  callerNumber,
  FRAME_BYTES,
  FRAME_MS,
  readStamp,
  StampedFrames,
  type Ticking,
  type Violations,
  wallClockMs,
} from "./probe.ts";
import { Float64List } from "./stats.ts";
import type { CallRecord } from "./timeline.ts";

/** Where the bridge listens and how to sign for it. */
export interface DialTarget {
  serverUrl: string;
  publicUrl: string;
  authToken: string;
  /** Audio format the bridge uses with the model (decides how frames are matched). */
  format: "pcmu" | "pcm16";
  /** Path of the voice webhook (ours: `/twilio/voice`; the public sample: `/incoming-call`). */
  webhookPath: string;
}

const BYTES_PER_MS = 8;

/**
 * Webhooks go through a client that keeps no idle connections, so after the calls the
 * server's open descriptors show only what the server itself still holds.
 */
let webhookClient: Deno.HttpClient | undefined;

async function postWebhook(
  options: Parameters<typeof voiceWebhookParams>[0],
  path: string,
): Promise<
  { status: number; body: string; streamUrl?: string; parameters: Record<string, string> }
> {
  webhookClient ??= Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const params = voiceWebhookParams(options);
  const res = await fetch(options.serverUrl + path, {
    method: "POST",
    client: webhookClient,
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-twilio-signature": signTwilioRequest(options.authToken, options.publicUrl + path, params),
    },
    body: new URLSearchParams(params),
  });
  const body = await res.text();
  return { status: res.status, body, ...parseStreamTwiml(body) };
}

/** Closes the webhook client (end of a run). */
export function closeWebhookClient(): void {
  webhookClient?.close();
  webhookClient = undefined;
}

/** One simulated call. Create with {@linkcode LoadCaller.dial}. */
export class LoadCaller implements Ticking {
  /** Call index: in its stamps and its phone number. */
  readonly idx: number;
  readonly streamSid = fakeSid("MZ");
  readonly callSid: string;
  readonly #accountSid = "AC" + "0".repeat(32);
  readonly #ws: NoDelayWebSocket;
  readonly #violations: Violations;
  readonly #format: "pcmu" | "pcm16";
  /** A quiet hiss after the stamp (cosmetic: the model's VAD is scripted). */
  readonly #frames = new StampedFrames(0xfe);
  readonly #msgHead: string;
  readonly #msgTail: string;
  /** How every bridge writes Twilio media to us: matched as text, no JSON parse. */
  readonly #mediaHead: string;
  #seq = 0;
  #t0 = 0;
  #sending = false;
  /** Send time of each caller frame, by seq. */
  readonly #upSent = new Float64List();
  /** Model frames heard: by session, then by the session's seq (pcmu); by order (pcm16). */
  readonly #down = new Map<number, Float64List>();
  readonly #downOrder = new Float64List();
  readonly #lastSeq = new Map<number, number>();
  readonly #clears = new Float64List();
  /** True once any model audio arrived (the call is up end to end). */
  heardAudio = false;
  // Playout: bytes queued from the server vs. played so far.
  #queued = 0;
  #played = 0;
  #lastPlay = 0;
  #marks: { name: string; at: number }[] = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  private constructor(
    ws: NoDelayWebSocket,
    callSid: string,
    idx: number,
    violations: Violations,
    format: "pcmu" | "pcm16",
  ) {
    this.#ws = ws;
    this.callSid = callSid;
    this.idx = idx;
    this.#violations = violations;
    this.#format = format;
    this.#msgHead = '{"event":"media","sequenceNumber":"';
    this.#msgTail = '"},"streamSid":"' + this.streamSid + '"}';
    this.#mediaHead = '{"event":"media","streamSid":"' + this.streamSid + '","media":{"payload":"';
    this.closed = new Promise((resolve) => {
      ws.onclose = () => {
        this.#sending = false;
        resolve();
      };
    });
    ws.ontext = (data) => this.#onMessage(data);
    ws.onmessage = (ev) => this.#onMessage(ev.data);
  }

  /** Webhook, media socket, `connected` and `start`; audio flows from the next tick. */
  static async dial(
    target: DialTarget,
    idx: number,
    violations: Violations,
  ): Promise<LoadCaller> {
    const options = {
      serverUrl: target.serverUrl,
      publicUrl: target.publicUrl,
      authToken: target.authToken,
      from: callerNumber(idx),
      to: "+15559990000",
    };
    const callSid = fakeSid("CA");
    const answer = await postWebhook({ ...options, callSid }, target.webhookPath);
    if (answer.status !== 200 || !answer.streamUrl) {
      throw new Error(`call not connected (HTTP ${answer.status}): ${answer.body.slice(0, 200)}`);
    }
    // Twilio's side does not hold small writes back (Nagle): neither may the harness, or it
    // would measure its own TCP delays. Deno's WebSocket client cannot turn Nagle off.
    const target_ = new URL(new URL(answer.streamUrl).pathname, target.serverUrl);
    target_.protocol = "ws:";
    const signature = signTwilioRequest(target.authToken, answer.streamUrl, {});
    const ws = new NoDelayWebSocket(target_.href, {
      headers: { "x-twilio-signature": signature },
    });
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = (ev) => reject(new Error(`media socket failed: ${(ev as ErrorEvent).message}`));
    });
    ws.onerror = null;
    const caller = new LoadCaller(ws, callSid, idx, violations, target.format);
    caller.#begin(answer.parameters);
    return caller;
  }

  #begin(parameters: Record<string, string>): void {
    this.#ws.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
    this.#ws.send(JSON.stringify(startMessage({
      accountSid: this.#accountSid,
      streamSid: this.streamSid,
      callSid: this.callSid,
      customParameters: parameters,
      sequenceNumber: ++this.#seq,
    })));
    this.#t0 = performance.now();
    this.#lastPlay = this.#t0;
    this.#sending = true;
  }

  /** Stops sending audio (end of the measurement; the socket stays open). */
  pause(): void {
    this.#sending = false;
  }

  /** Sends `stop` and closes, like Twilio when the caller hangs up. */
  hangUp(): Promise<void> {
    this.#sending = false;
    if (this.#ws.readyState === WebSocket.OPEN) {
      this.#ws.send(JSON.stringify({
        event: "stop",
        sequenceNumber: String(++this.#seq),
        streamSid: this.streamSid,
        stop: { accountSid: this.#accountSid, callSid: this.callSid },
      }));
      this.#ws.close(1000, "caller hung up");
    }
    return this.closed;
  }

  /** What this call recorded (see `timeline.ts`). */
  record(): CallRecord {
    const down: Record<string, Float64Array> = {};
    if (this.#format === "pcm16") down.order = this.#downOrder.values();
    else for (const [session, list] of this.#down) down[String(session)] = list.values();
    return { idx: this.idx, upSent: this.#upSent.values(), down, clears: this.#clears.values() };
  }

  /** Sends the frames due by `now` and advances playout. */
  tick(now: number): void {
    if (this.#sending && this.#ws.readyState === WebSocket.OPEN) {
      const due = Math.floor((now - this.#t0) / FRAME_MS) + 1;
      while (this.#upSent.length < due) this.#sendFrame();
    }
    this.#advancePlayout(now);
  }

  #sendFrame(): void {
    // The send time is now, not the tick's start: the ticker may have served other calls first.
    const sentAt = wallClockMs();
    const seq = this.#upSent.push(sentAt);
    const chunk = seq + 1;
    this.#ws.send(
      this.#msgHead + (++this.#seq) + '","media":{"track":"inbound","chunk":"' + chunk +
        '","timestamp":"' + seq * FRAME_MS + '","payload":"' +
        this.#frames.base64(this.idx, seq, sentAt) + this.#msgTail,
    );
  }

  #advancePlayout(now: number): void {
    const budget = (now - this.#lastPlay) * BYTES_PER_MS;
    this.#lastPlay = now;
    if (this.#queued > this.#played) this.#played = Math.min(this.#queued, this.#played + budget);
    while (this.#marks.length > 0 && this.#marks[0].at <= this.#played) {
      this.#echoMark(this.#marks.shift()!.name);
    }
  }

  #echoMark(name: string): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify({
      event: "mark",
      sequenceNumber: String(++this.#seq),
      streamSid: this.streamSid,
      mark: { name },
    }));
  }

  #onMessage(data: unknown): void {
    const violations = this.#violations;
    if (typeof data !== "string") return violations.add("caller: binary frame");
    const arrivedAt = wallClockMs();
    const now = performance.now();
    // Fast path: exactly Twilio's media shape (the payload must be base64, so no quote or
    // escape can hide in it); anything else is parsed and checked field by field.
    if (data.startsWith(this.#mediaHead) && data.endsWith('"}}')) {
      violations.receivedOne("twilio:media");
      let bytes: Uint8Array;
      try {
        bytes = Uint8Array.fromBase64(data.slice(this.#mediaHead.length, -3));
      } catch {
        return violations.add("caller: media payload is not base64");
      }
      return this.#onAudio(bytes, now, arrivedAt);
    }
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data);
    } catch {
      return violations.add("caller: invalid JSON");
    }
    if (msg.streamSid !== this.streamSid) return violations.add("caller: wrong streamSid");
    const keys = Object.keys(msg).length;
    violations.receivedOne(`twilio:${String(msg.event).slice(0, 20)}`);
    if (msg.event === "media") {
      const media = msg.media as { payload?: unknown } | undefined;
      if (keys !== 3 || typeof media?.payload !== "string" || Object.keys(media).length !== 1) {
        return violations.add("caller: media message with wrong fields");
      }
      let bytes: Uint8Array;
      try {
        bytes = Uint8Array.fromBase64(media.payload);
      } catch {
        return violations.add("caller: media payload is not base64");
      }
      this.#onAudio(bytes, now, arrivedAt);
    } else if (msg.event === "mark") {
      const mark = msg.mark as { name?: unknown } | undefined;
      if (keys !== 3 || typeof mark?.name !== "string") {
        return violations.add("caller: mark message with wrong fields");
      }
      this.#advancePlayout(now);
      if (this.#queued <= this.#played) this.#echoMark(mark.name);
      else this.#marks.push({ name: mark.name, at: this.#queued });
    } else if (msg.event === "clear") {
      if (keys !== 2) return violations.add("caller: clear message with wrong fields");
      this.#advancePlayout(now);
      this.#queued = this.#played;
      for (const m of this.#marks.splice(0)) this.#echoMark(m.name);
      this.#clears.push(arrivedAt);
    } else {
      violations.add(`caller: unknown event ${String(msg.event)}`);
    }
  }

  #onAudio(bytes: Uint8Array, now: number, arrivedAt: number): void {
    this.heardAudio = true;
    if (this.#queued === this.#played) this.#lastPlay = now;
    this.#queued += bytes.length;
    if (bytes.length % FRAME_BYTES !== 0) this.#violations.add("caller: media not frame-aligned");
    for (let at = 0; at + FRAME_BYTES <= bytes.length; at += FRAME_BYTES) {
      if (this.#format === "pcm16") {
        this.#downOrder.push(arrivedAt);
        continue;
      }
      const stamp = readStamp(bytes.subarray(at, at + FRAME_BYTES));
      if (!stamp) {
        this.#violations.add("caller: agent frame without stamp");
        continue;
      }
      const session = stamp.sessionOrCall;
      let list = this.#down.get(session);
      if (!list) this.#down.set(session, list = new Float64List());
      if (stamp.seq <= (this.#lastSeq.get(session) ?? -1)) this.#violations.misordered++;
      this.#lastSeq.set(session, stamp.seq);
      list.set(stamp.seq, arrivedAt);
    }
  }
}
