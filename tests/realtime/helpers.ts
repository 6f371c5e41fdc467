/**
 * Test helpers for the Realtime tests: a raw WebSocket client for poking the fake, and
 * audio generators (tone/silence) in both input formats.
 *
 * @module
 */
import { referenceEncode as encodeMulaw } from "../../scripts/sim/g711.ts";

/** A parsed server event as a loose record. */
export type Rec = Record<string, unknown> & { type: string };

/** A minimal client that records every server event. */
export interface RawClient {
  ws: WebSocket;
  events: Rec[];
  /** Resolves with the first event of `type` at or after index `from` (default: any). */
  next(type: string, timeoutMs?: number, from?: number): Promise<Rec>;
  send(obj: unknown): void;
  /** Resolves when the socket is closed (by either side). */
  closed: Promise<CloseEvent>;
  close(): Promise<CloseEvent>;
}

/** Opens a raw client; resolves once the socket is open. */
export function rawClient(url: string, headers: Record<string, string>): Promise<RawClient> {
  const ws = new WebSocket(url, { headers });
  const events: Rec[] = [];
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  ws.onmessage = (m) => events.push(JSON.parse(m.data as string));
  const client: RawClient = {
    ws,
    events,
    closed,
    async next(type, timeoutMs = 3000, from = 0) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.slice(from).find((e) => e.type === type);
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(`no ${type}; got ${events.map((e) => e.type).join(", ")}`);
        }
        await delay(5);
      }
    },
    send(obj) {
      ws.send(typeof obj === "string" ? obj : JSON.stringify(obj));
    },
    close() {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      return closed;
    },
  };
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(client);
    ws.onerror = () => reject(new Error("socket error"));
  });
}

/** Sleeps (test-side). */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `ms` of a 300 Hz tone (amplitude 8000) or silence as PCM16 at `rate`. */
export function pcm(ms: number, rate: number, tone: boolean): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  const out = new Int16Array(n);
  if (tone) {
    for (let i = 0; i < n; i++) {
      out[i] = Math.round(8000 * Math.sin(2 * Math.PI * 300 * i / rate));
    }
  }
  return out;
}

/**
 * Splits a sequence of `[ms, tone]` segments into 20 ms base64 frames in the format
 * (`pcmu`: mu-law 8 kHz, `pcm16`: PCM16 LE 24 kHz).
 */
export function frames(format: "pcmu" | "pcm16", segments: [number, boolean][]): string[] {
  const rate = format === "pcmu" ? 8000 : 24000;
  const out: string[] = [];
  for (const [ms, tone] of segments) {
    const samples = pcm(ms, rate, tone);
    const per = rate / 50;
    for (let i = 0; i < samples.length; i += per) {
      const f = samples.subarray(i, i + per);
      if (format === "pcmu") out.push(encodeMulaw(f).toBase64());
      else {
        const bytes = new Uint8Array(f.length * 2);
        const view = new DataView(bytes.buffer);
        f.forEach((v, k) => view.setInt16(k * 2, v, true));
        out.push(bytes.toBase64());
      }
    }
  }
  return out;
}

/** A user turn: 400 ms silence, `speechMs` of tone, 1000 ms silence. */
export function turnFrames(format: "pcmu" | "pcm16", speechMs = 600): string[] {
  return frames(format, [[400, false], [speechMs, true], [1000, false]]);
}
