/**
 * A server-side WebSocket double for {@linkcode TwilioStream}: frames are pushed in with
 * `receive`/`json`, sent ones are recorded, and `peerClose` closes it from Twilio's side.
 *
 * @module
 */
import type { StreamSocket } from "../../src/twilio/media_stream.ts";
import { startMessage } from "../../src/sim/twilio_caller.ts";

/** Twilio's `start` frame (JSON text) for `streamSid`, with placeholder account and call SIDs. */
export function startFrame(streamSid: string): string {
  return JSON.stringify(startMessage({
    accountSid: "AC" + "0".repeat(32),
    streamSid,
    callSid: "CA" + "0".repeat(32),
    customParameters: {},
  }));
}

/** The socket double. */
export class FakeSocket implements StreamSocket {
  readyState = 1;
  binaryType: BinaryType = "blob";
  sent: string[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }
  receive(data: unknown): void {
    this.onmessage?.(new MessageEvent("message", { data }));
  }
  json(msg: unknown): void {
    this.receive(JSON.stringify(msg));
  }
  /** Twilio (or the caller) closed the socket. */
  peerClose(code = 1000, reason = ""): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent("close", { code, reason }));
  }
}
