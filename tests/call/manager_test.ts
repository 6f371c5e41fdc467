/**
 * The call manager in virtual time: a caller who hangs up while the pre-warmed model
 * session is still being awaited is noticed (the call finishes, its slot is freed), and a
 * second stream for the same CallSid is refused even before the first call exists.
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

const CALL_SID = "CA" + "1".repeat(32);
const STREAM_SID = "MZ" + "2".repeat(32);

/** A model socket that never opens (a pre-warm still under way). */
function silentSocket(): WebSocket {
  return {
    readyState: 0,
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
    send() {},
    close() {
      (this as { readyState: number }).readyState = 3;
    },
  } as unknown as WebSocket;
}

class RecordingControl implements ServiceControl {
  readonly requests: string[] = [];
  transfer(): Promise<unknown> {
    this.requests.push("transfer");
    return Promise.resolve();
  }
  hangUp(): Promise<"completed" | "already_ended"> {
    this.requests.push("hangup");
    return Promise.resolve("already_ended");
  }
  sendSms(): Promise<{ sid: string }> {
    return Promise.resolve({ sid: "SM1" });
  }
}

async function setup() {
  const clock = new VirtualClock();
  const config = loadConfig({
    PUBLIC_URL: "https://voice.example.com",
    OPENAI_API_KEY: "sk-test",
    TWILIO_AUTH_TOKEN: "token",
    TWILIO_ACCOUNT_SID: "AC" + "0".repeat(32),
    DATABASE_URL: "sqlite::memory:",
  });
  const profile = loadBusinessProfile(DEFAULT_BUSINESS_FILE);
  const store = await openStore("sqlite::memory:", profile);
  const control = new RecordingControl();
  const manager = new CallManager({
    config,
    profile,
    store,
    metrics: new Metrics(),
    apologies: loadApologies(),
    control,
    clock,
    connectionOptions: { webSocketFactory: silentSocket },
  });
  return { clock, store, control, manager };
}

function startedStream() {
  const socket = new FakeSocket();
  const stream = new TwilioStream(socket);
  socket.json(startMessage({
    accountSid: "AC" + "0".repeat(32),
    streamSid: STREAM_SID,
    callSid: CALL_SID,
    customParameters: { from: "+15550001111", to: "+15559990000" },
  }));
  const start = stream.start!;
  return { socket, stream, start };
}

Deno.test("manager: a hang-up during the pre-warm wait finishes the call and frees its slot", async () => {
  const { clock, store, control, manager } = await setup();
  try {
    manager.onIncomingCall({ callSid: CALL_SID, from: "+15550001111", to: "", params: {} });
    const { socket, stream, start } = startedStream();
    manager.onStream(stream, start);
    assert.equal(manager.activeCount, 1, "the CallSid is reserved at once");
    // The caller hangs up while the manager waits for the model session.
    socket.json({
      event: "stop",
      sequenceNumber: "2",
      streamSid: STREAM_SID,
      stop: { accountSid: "AC" + "0".repeat(32), callSid: CALL_SID },
    });
    socket.peerClose();
    await clock.advance(2600); // the claim times out; the call is built and sees the hang-up
    await clock.until(() => manager.activeCount === 0, 5000, 20, "the call to finish");
    const record = await store.getCall(CALL_SID);
    assert.equal(record?.outcome, "caller_hung_up");
    assert.ok(record?.endedAt);
    assert.deepEqual(control.requests, [], "no REST request for a call that is gone");
    assert.equal(manager.admission().accept, true);
  } finally {
    await manager.drain(0, 0);
    await clock.advance(20_000); // the pre-warm's handshake timer runs out
    await store.close();
  }
});

Deno.test("manager: a second stream for the same CallSid is refused while the first is being built", async () => {
  const { clock, store, manager } = await setup();
  try {
    const first = startedStream();
    manager.onStream(first.stream, first.start);
    const second = startedStream();
    manager.onStream(second.stream, second.start);
    assert.deepEqual(second.socket.closedWith, { code: 1008, reason: "duplicate stream" });
    assert.equal(first.socket.closedWith, undefined);
    assert.equal(manager.activeCount, 1);
    first.socket.peerClose();
    await clock.until(() => manager.activeCount === 0, 10_000, 50, "the first call to end");
  } finally {
    await manager.drain(0, 0);
    await clock.advance(20_000);
    await store.close();
  }
});
