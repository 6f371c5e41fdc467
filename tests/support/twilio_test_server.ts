/**
 * A real server with only the Twilio routes, for tests: records what the routes report
 * and tracks every accepted stream so a test can wait until all sockets have closed.
 *
 * @module
 */
import { type Config, loadConfig } from "../../src/config.ts";
import { startServer } from "../../src/server.ts";
import type { StreamListener, TwilioStream } from "../../src/twilio/media_stream.ts";
import type { StreamStart } from "../../src/twilio/protocol.ts";
import {
  type Admission,
  type CallStatusInfo,
  type IncomingCallInfo,
  type StreamStatusInfo,
  type TwilioRouteDeps,
  twilioRoutes,
} from "../../src/twilio/routes.ts";
import { within } from "./wait.ts";

/** Test auth token (never a real one). */
export const TEST_AUTH_TOKEN = "test-auth-token-0123456789abcdef";
/** Test account SID. */
export const TEST_ACCOUNT_SID = "AC" + "0".repeat(32);
/** Public origin the tests pretend Twilio calls. */
export const TEST_PUBLIC_URL = "https://voice.example.com";

/** A config as the service would load it, with test values. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    PUBLIC_URL: TEST_PUBLIC_URL,
    OPENAI_API_KEY: "sk-test",
    TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
    TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID,
    ...env,
  });
}

/** An accepted stream and a promise for its close. */
export interface AcceptedStream {
  stream: TwilioStream;
  start: StreamStart;
  closed: Promise<{ code: number; reason: string }>;
}

/** The listener the test server attaches to each stream; tests replace its handlers. */
export type TestListener = { -readonly [K in keyof StreamListener]: StreamListener[K] };

/** Options of {@linkcode startTwilioTestServer}. */
export interface TwilioTestServerOptions {
  env?: Record<string, string>;
  admission?: () => Admission;
  /**
   * Called after the stream is recorded, with the listener attached to it (replace its
   * handlers to observe); default: echo every inbound frame back.
   */
  onStream?: (stream: TwilioStream, start: StreamStart, on: TestListener) => void;
  maxBodyBytes?: number;
  startTimeoutMs?: number;
  /** Passed to the routes as they are (stream limits, record lookups, polite refusals). */
  routeDeps?: Partial<
    Pick<
      TwilioRouteDeps,
      "streamOptions" | "socketLimits" | "callRecorded" | "refuseCall" | "sockets"
    >
  >;
}

/** Wires a stream to send every inbound frame straight back (fresh bytes each time). */
export function echo(stream: TwilioStream, _start: StreamStart, on: TestListener): void {
  on.media = (mulawBase64) => {
    stream.sendAudio(Uint8Array.fromBase64(mulawBase64));
  };
}

/** Starts the server on a free loopback port. */
export function startTwilioTestServer(options: TwilioTestServerOptions = {}) {
  const config = testConfig(options.env);
  const incoming: IncomingCallInfo[] = [];
  const statuses: CallStatusInfo[] = [];
  const streamStatuses: StreamStatusInfo[] = [];
  const streams: AcceptedStream[] = [];
  /** Reasons the routes reported: refused streams and sockets, dropped frames. */
  const refused: string[] = [];
  const protocolErrors: string[] = [];
  const onStream = options.onStream ?? echo;
  const routes = twilioRoutes({
    config,
    admission: options.admission ?? (() => ({ accept: true })),
    onIncomingCall: (info) => incoming.push(info),
    onStream: (stream, start) => {
      const { promise: closed, resolve } = Promise.withResolvers<
        { code: number; reason: string }
      >();
      if (stream.closed) resolve({ code: 1005, reason: "" });
      else stream.on("close", (code, reason) => resolve({ code, reason }));
      const on: TestListener = { media() {}, mark() {}, dtmf() {}, stop() {}, close() {} };
      streams.push({ stream, start, closed });
      onStream(stream, start, on);
      stream.attach(on);
    },
    onCallStatus: (s) => statuses.push(s),
    onStreamStatus: (s) => streamStatuses.push(s),
    maxBodyBytes: options.maxBodyBytes,
    startTimeoutMs: options.startTimeoutMs,
    onRefused: (reason) => refused.push(reason),
    onProtocolError: (reason) => protocolErrors.push(reason),
    ...options.routeDeps,
  });
  const server = startServer({ hostname: "127.0.0.1", port: 0, routes });
  const baseUrl = `http://127.0.0.1:${server.addr.port}`;
  return {
    config,
    server,
    baseUrl,
    incoming,
    statuses,
    streamStatuses,
    streams,
    refused,
    protocolErrors,
    /** Options for the fake caller aimed at this server. */
    callerOptions: { serverUrl: baseUrl, publicUrl: TEST_PUBLIC_URL, authToken: TEST_AUTH_TOKEN },
    /**
     * Waits (up to `graceMs`) for every accepted stream to close, closes from the server
     * side any a failed test left open (with a warning naming them), then stops the server.
     * Never waits forever.
     */
    async close(graceMs = 3000): Promise<void> {
      const open = () => streams.filter((s) => !s.stream.closed);
      try {
        await within(Promise.all(streams.map((s) => s.closed)), graceMs, "streams to close");
      } catch {
        const left = open();
        console.warn(
          `twilio test server: closing ${left.length} stream(s) left open: ` +
            left.map((s) => s.start.callSid).join(", "),
        );
        for (const s of left) s.stream.close(1001, "test server closing");
        await within(Promise.all(left.map((s) => s.closed)), graceMs, "forced closes")
          .catch((error) => console.warn(`twilio test server: ${error.message}`));
      }
      await within(server.shutdown(), graceMs, "the test server to shut down");
    },
  };
}
