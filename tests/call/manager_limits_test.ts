/**
 * The call manager's bounds, in virtual time: `MAX_CALLS` holds at the media stream too
 * (tokens gathered earlier cannot open more calls), and a model socket that stops taking
 * data (unsent bytes piling up) is ended with a log line; the call then apologises and
 * ends as for any lost model.
 */
import assert from "node:assert/strict";
import { CallManager, type ServiceControl } from "../../src/call/manager.ts";
import { loadConfig } from "../../src/config.ts";
import { DEFAULT_BUSINESS_FILE, loadBusinessProfile } from "../../src/booking/business.ts";
import { openStore } from "../../src/booking/store.ts";
import { Metrics } from "../../src/metrics.ts";
import { loadApologies } from "../../src/assets.ts";
import { TwilioStream } from "../../src/twilio/media_stream.ts";
import { startMessage } from "../../src/sim/twilio_caller.ts";
import { FakeSocket } from "../support/stream_socket.ts";
import { VirtualClock } from "../support/virtual_clock.ts";

const ACCOUNT = "AC" + "0".repeat(32);

/**
 * A model socket that completes the Realtime handshake at once and then accepts
 * everything; `bufferedAmount` is what the test says is still unsent.
 */
class ScriptedModelSocket {
  readyState = 1;
  bufferedAmount = 0;
  sent = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;

  constructor(clock: VirtualClock) {
    clock.setTimeout(() => this.#emit({ type: "session.created", session: { id: "sess_1" } }), 1);
  }

  send(data: string): void {
    this.sent++;
    if (data.includes('"session.update"')) {
      queueMicrotask(() => this.#emit({ type: "session.updated", session: { id: "sess_1" } }));
    }
  }

  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.(new CloseEvent("close", { code: 1000 })));
  }

  #emit(event: Record<string, unknown>): void {
    this.onmessage?.(
      new MessageEvent("message", { data: JSON.stringify({ event_id: "ev", ...event }) }),
    );
  }
}

class QuietControl implements ServiceControl {
  transfer(): Promise<unknown> {
    return Promise.resolve();
  }
  hangUp(): Promise<"completed" | "already_ended"> {
    return Promise.resolve("already_ended");
  }
  sendSms(): Promise<{ sid: string }> {
    return Promise.resolve({ sid: "SM1" });
  }
}

async function setup(env: Record<string, string>, maxModelBacklogBytes?: number) {
  const clock = new VirtualClock();
  const config = loadConfig({
    PUBLIC_URL: "https://voice.example.com",
    OPENAI_API_KEY: "sk-test",
    TWILIO_AUTH_TOKEN: "token",
    TWILIO_ACCOUNT_SID: ACCOUNT,
    DATABASE_URL: "sqlite::memory:",
    ...env,
  });
  const profile = loadBusinessProfile(DEFAULT_BUSINESS_FILE);
  const store = await openStore("sqlite::memory:", profile);
  const sockets: ScriptedModelSocket[] = [];
  const manager = new CallManager({
    config,
    profile,
    store,
    metrics: new Metrics(),
    apologies: loadApologies(),
    control: new QuietControl(),
    clock,
    maxModelBacklogBytes,
    connectionOptions: {
      webSocketFactory: () => {
        const socket = new ScriptedModelSocket(clock);
        sockets.push(socket);
        return socket as unknown as WebSocket;
      },
    },
  });
  return { clock, store, manager, sockets };
}

function startedStream(callSid: string) {
  const socket = new FakeSocket();
  const stream = new TwilioStream(socket, { mediaTimeoutMs: 0 });
  socket.json(startMessage({
    accountSid: ACCOUNT,
    streamSid: "MZ" + callSid.slice(2),
    callSid,
    customParameters: { from: "+15550001111", to: "+15559990000" },
  }));
  return { socket, stream, start: stream.start! };
}

Deno.test("manager: MAX_CALLS holds at the stream: a token gathered earlier opens no extra call", async () => {
  const { clock, store, manager } = await setup({ MAX_CALLS: "1" });
  try {
    const first = startedStream("CA" + "1".repeat(32));
    manager.onStream(first.stream, first.start);
    await clock.until(() => manager.liveCalls().length === 1, 5000, 20, "the first call");
    const second = startedStream("CA" + "2".repeat(32));
    manager.onStream(second.stream, second.start);
    assert.deepEqual(second.socket.closedWith, { code: 1013, reason: "at capacity" });
    assert.equal(manager.activeCount, 1);
    first.socket.peerClose();
    await clock.until(() => manager.activeCount === 0, 10_000, 50, "the first call to end");
  } finally {
    await manager.drain(0, 0);
    await clock.advance(20_000);
    await store.close();
  }
});

Deno.test("manager: a model socket with more than the bound unsent is ended; the caller gets the apology", async () => {
  const { clock, store, manager, sockets } = await setup({}, 100_000);
  const callSid = "CA" + "3".repeat(32);
  try {
    const { socket, stream, start } = startedStream(callSid);
    manager.onStream(stream, start);
    await clock.until(() => manager.liveCalls().length === 1, 5000, 20, "the call");
    await clock.advance(3000);
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0].readyState, 1, "a socket that keeps up stays open");
    sockets[0].bufferedAmount = 2_000_000; // the model link stopped taking data
    await clock.advance(1100);
    assert.equal(sockets[0].readyState, 3, "the backed-up model socket was closed");
    await clock.until(() => manager.activeCount === 0, 30_000, 100, "the call to end");
    const record = await store.getCall(callSid);
    assert.equal(record?.outcome, "model_unavailable");
    assert.ok(
      socket.sent.some((m) => m.includes('"event":"media"')),
      "the prepared apology was played to the caller",
    );
  } finally {
    await manager.drain(0, 0);
    await clock.advance(20_000);
    await store.close();
  }
});
