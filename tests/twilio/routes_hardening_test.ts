/**
 * The Twilio routes against a hostile peer, on loopback (issue 20): a forged caller number,
 * a reused call token, a replayed voice webhook, a From too long for a `<Parameter>`,
 * sockets that never send `start` (with 16 MB frames), an unsupported media format, and a
 * flood of rejected webhooks that used to write 60 KB log lines without limit.
 */
import assert from "node:assert/strict";
import {
  fakeSid,
  openMediaSocket,
  postVoiceWebhook,
  startMessage,
  voiceWebhookParams,
} from "../../src/sim/twilio_caller.ts";
import { resetLogging, setupLogging } from "../../src/log.ts";
import { opened, within } from "../support/wait.ts";
import { mediaSocketLimits, MediaSockets } from "../../src/twilio/media_sockets.ts";
import { TwilioStream } from "../../src/twilio/media_stream.ts";
import { FakeSocket } from "../support/stream_socket.ts";
import { startTwilioTestServer, TEST_ACCOUNT_SID } from "../support/twilio_test_server.ts";

type TestServer = ReturnType<typeof startTwilioTestServer>;

/** Sockets each test opened: closed before the server stops, whatever the test found. */
const socketsOf = new Map<TestServer, WebSocket[]>();

/** Closes the test's sockets, then the server (which waits for every accepted stream). */
async function shutdown(app: TestServer): Promise<void> {
  const sockets = socketsOf.get(app) ?? [];
  socketsOf.delete(app);
  await within(
    Promise.all(
      sockets.map((ws) =>
        ws.readyState === WebSocket.CLOSED ? undefined : new Promise<void>((resolve) => {
          ws.addEventListener("close", () => resolve());
          ws.close();
        })
      ),
    ),
    5000,
    "the test's sockets to close",
  );
  await app.close();
}

/** Opens a signed media socket and sends `connected` and `start` with these parameters. */
async function openStream(
  app: TestServer,
  callSid: string,
  customParameters: Record<string, string>,
  mediaFormat?: { encoding: string; sampleRate: number; channels: number },
) {
  const ws = openMediaSocket(app.callerOptions, "wss://voice.example.com/twilio/media");
  socketsOf.set(app, [...(socketsOf.get(app) ?? []), ws]);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (ev) => resolve({ code: ev.code, reason: ev.reason });
  });
  await opened(ws);
  const start = startMessage({
    accountSid: TEST_ACCOUNT_SID,
    streamSid: fakeSid("MZ"),
    callSid,
    customParameters,
  });
  // The simulator builds Twilio's start; a test sends another format than Twilio's.
  if (mediaFormat) (start.start as { mediaFormat: unknown }).mediaFormat = mediaFormat;
  ws.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
  ws.send(JSON.stringify(start));
  return { ws, closed };
}

/** Resolves with `promise`, or with "timeout" after `ms` (what the old code did: nothing). */
function orTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms)),
  ]);
}

async function webhook(app: TestServer, params = voiceWebhookParams(app.callerOptions)) {
  const answer = await postVoiceWebhook(app.callerOptions, params);
  return { params, answer };
}

/** Waits until the server has handed `n` streams to its consumer. */
async function streamsAccepted(app: TestServer, n: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (app.streams.length < n && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("edge: a stream that changes the caller's number is refused (the token covers from and to)", async () => {
  const app = startTwilioTestServer();
  try {
    const { params, answer } = await webhook(app);
    assert.equal(answer.parameters.from, params.From);
    assert.equal(answer.parameters.to, params.To);
    // Issue 20: a valid token with `from` set to a victim's number read out and cancelled
    // the victim's booking.
    const forged = await openStream(app, params.CallSid, {
      ...answer.parameters,
      from: "+15551234567",
    });
    assert.deepEqual(await orTimeout(forged.closed, 3000), {
      code: 1008,
      reason: "invalid call token",
    });
    assert.equal(app.streams.length, 0);
    assert.deepEqual(app.refused, ["invalid_token"]);
    const real = await openStream(app, params.CallSid, answer.parameters);
    await streamsAccepted(app, 1);
    assert.equal(app.streams[0]?.start.from, params.From);
    real.ws.close();
    await within(real.closed, 5000, "the socket to close");
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: a call token opens one stream; a second, later or 50 ms apart, is refused", async () => {
  const app = startTwilioTestServer();
  try {
    const { params, answer } = await webhook(app);
    const first = await openStream(app, params.CallSid, answer.parameters);
    await new Promise((r) => setTimeout(r, 50));
    const second = await openStream(app, params.CallSid, answer.parameters);
    assert.deepEqual(await orTimeout(second.closed, 3000), {
      code: 1008,
      reason: "call token already used",
    });
    first.ws.close();
    await within(first.closed, 5000, "the socket to close");
    // After the call ended: the same token again (issue 20: its record replaced the first).
    const again = await openStream(app, params.CallSid, answer.parameters);
    assert.deepEqual(await orTimeout(again.closed, 3000), {
      code: 1008,
      reason: "call token already used",
    });
    assert.equal(app.streams.length, 1);
    assert.deepEqual(app.refused, ["token_reused", "token_reused"]);
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: a token replayed on another instance is refused when the call is on record", async () => {
  const recorded = new Set<string>();
  const app = startTwilioTestServer({
    routeDeps: { callRecorded: (sid) => Promise.resolve(recorded.has(sid)) },
  });
  try {
    const { params, answer } = await webhook(app);
    recorded.add(params.CallSid); // another instance served the call and saved its record
    const replay = await openStream(app, params.CallSid, answer.parameters);
    assert.deepEqual(await orTimeout(replay.closed, 3000), {
      code: 1008,
      reason: "call already answered",
    });
    assert.equal(app.streams.length, 0);
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: a replayed voice webhook mints no token once the call has streamed", async () => {
  const recorded = new Set<string>();
  const app = startTwilioTestServer({
    routeDeps: { callRecorded: (sid) => Promise.resolve(recorded.has(sid)) },
  });
  try {
    const { params, answer } = await webhook(app);
    // A retry before any stream is answered again (Twilio may retry a webhook it lost).
    const retry = await webhook(app, params);
    assert.ok(retry.answer.streamUrl);
    const stream = await openStream(app, params.CallSid, answer.parameters);
    await streamsAccepted(app, 1);
    const replay = await webhook(app, params);
    assert.equal(replay.answer.status, 200);
    assert.equal(replay.answer.streamUrl, undefined, "no stream, no token");
    assert.match(replay.answer.body, /<Hangup\/>/);
    assert.equal(app.incoming.length, 2, "no pre-warm for the replay");
    stream.ws.close();
    await within(stream.closed, 5000, "the socket to close");
    // Another instance: the record says the call was answered.
    const other = voiceWebhookParams(app.callerOptions);
    recorded.add(other.CallSid);
    const elsewhere = await webhook(app, other);
    assert.equal(elsewhere.answer.streamUrl, undefined);
    assert.equal(app.incoming.length, 2);
    assert.deepEqual(app.refused, ["replayed_webhook", "replayed_webhook"]);
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: a From over 490 characters (a long SIP URI) still gets a stream; nothing leaks", async () => {
  const app = startTwilioTestServer();
  try {
    const from = `sip:+15550001111@${"a".repeat(600)}.example.com`;
    const params = voiceWebhookParams({ ...app.callerOptions, from });
    // Issue 20: 500 after a model session was pre-warmed.
    const { answer } = await webhook(app, params);
    assert.equal(answer.status, 200, answer.body);
    assert.ok(answer.streamUrl);
    assert.equal(answer.parameters.from, from.slice(0, 256));
    assert.equal(app.incoming.length, 1);
    const stream = await openStream(app, params.CallSid, answer.parameters);
    await streamsAccepted(app, 1);
    assert.equal(app.streams[0]?.start.from, from.slice(0, 256));
    stream.ws.close();
    await within(stream.closed, 5000, "the socket to close");
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: a malformed CallSid gets a 400 and no stream", async () => {
  const app = startTwilioTestServer();
  try {
    const params = { ...voiceWebhookParams(app.callerOptions), CallSid: "CA" + "x".repeat(5000) };
    const { answer } = await webhook(app, params);
    assert.equal(answer.status, 400);
    assert.equal(app.incoming.length, 0);
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: an unsupported media format is refused with a log line and a polite end", async () => {
  const politely: string[] = [];
  const lines: string[] = [];
  await setupLogging({ level: "info", format: "json", write: (line) => lines.push(line) });
  const app = startTwilioTestServer({
    routeDeps: {
      refuseCall: (callSid, why) => {
        politely.push(`${callSid} ${why}`);
        return Promise.resolve();
      },
    },
  });
  try {
    const { params, answer } = await webhook(app);
    const stream = await openStream(app, params.CallSid, answer.parameters, {
      encoding: "audio/l16",
      sampleRate: 16000,
      channels: 1,
    });
    assert.deepEqual(await orTimeout(stream.closed, 3000), {
      code: 1000,
      reason: "unsupported media format",
    });
    assert.deepEqual(politely, [`${params.CallSid} unsupported_media_format`]);
    assert.equal(app.streams.length, 0);
    const line = lines.find((l) => l.includes("unsupported media format"));
    assert.ok(line, "an error line names the format");
    assert.match(JSON.parse(line).message, /audio\/l16, 16000 Hz, 1 channel/);
  } finally {
    await shutdown(app);
    await resetLogging();
  }
});

Deno.test("edge: sockets that never send start are bounded per address (the 9th is refused)", async () => {
  // MAX_CALLS=16 allows 8 sockets waiting for `start` per address.
  const app = startTwilioTestServer({ env: { MAX_CALLS: "16" } });
  const sockets: WebSocket[] = [];
  const closes: Promise<unknown>[] = [];
  try {
    for (let i = 0; i < 8; i++) {
      const ws = openMediaSocket(app.callerOptions, "wss://voice.example.com/twilio/media");
      closes.push(new Promise((r) => ws.onclose = r));
      await opened(ws);
      sockets.push(ws);
    }
    const ninth = openMediaSocket(app.callerOptions, "wss://voice.example.com/twilio/media");
    sockets.push(ninth);
    closes.push(new Promise((r) => ninth.onclose = r));
    const outcome = await orTimeout(
      new Promise<string>((resolve) => {
        ninth.onopen = () => resolve("open");
        ninth.onerror = () => resolve("refused");
      }),
      3000,
    );
    assert.equal(outcome, "refused");
    assert.deepEqual(app.refused, ["too_many_pending"]);
    sockets[0].close(); // one leaves: room for another
    await closes[0];
    const tenth = openMediaSocket(app.callerOptions, "wss://voice.example.com/twilio/media");
    closes.push(new Promise((r) => tenth.onclose = r));
    await opened(tenth);
    sockets.push(tenth);
  } finally {
    for (const ws of sockets) ws.close();
    await Promise.all(closes);
    await app.close();
  }
});

Deno.test("edge: 8 sockets sending 16 MB frames before start are each closed on the first (1009)", async () => {
  const app = startTwilioTestServer();
  try {
    const huge = "x".repeat(16 * 1024 * 1024);
    const ends = await Promise.all(Array.from({ length: 8 }, async () => {
      const ws = openMediaSocket(app.callerOptions, "wss://voice.example.com/twilio/media");
      const closed = new Promise<number>((r) => ws.onclose = (ev) => r(ev.code));
      await opened(ws);
      ws.send(huge);
      const code = await orTimeout(closed, 10_000);
      if (code === "timeout") ws.close();
      return code;
    }));
    assert.deepEqual(ends, Array(8).fill(1009));
    assert.equal(app.protocolErrors.filter((r) => r === "oversized_frame").length, 8);
    // The service still answers.
    assert.equal((await webhook(app)).answer.status, 200);
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: 300 rejected webhooks with a 60 KB CallSid write a bounded log", async () => {
  const lines: string[] = [];
  await setupLogging({ level: "info", format: "json", write: (line) => lines.push(line) });
  const app = startTwilioTestServer();
  try {
    const params = { ...voiceWebhookParams(app.callerOptions), CallSid: "CA" + "9".repeat(60_000) };
    for (let i = 0; i < 300; i++) {
      const res = await fetch(app.baseUrl + "/twilio/voice", {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": "forged",
        },
        body: new URLSearchParams(params),
      });
      await res.body?.cancel();
      assert.equal(res.status, 403);
    }
    const rejected = lines.filter((l) => l.includes("invalid Twilio signature"));
    assert.ok(rejected.length > 0 && rejected.length <= 20, `${rejected.length} lines`);
    const bytes = lines.reduce((n, l) => n + l.length, 0);
    assert.ok(bytes < 40_000, `${bytes} bytes of log for 300 bad requests`);
    assert.ok(rejected.every((l) => l.length < 2000), "each value cut short");
  } finally {
    await shutdown(app);
    await resetLogging();
  }
});

Deno.test("edge: dropped frames and stream ends are reported for the protocol-error metric", async () => {
  const app = startTwilioTestServer();
  try {
    const { params, answer } = await webhook(app);
    const stream = await openStream(app, params.CallSid, answer.parameters);
    await streamsAccepted(app, 1);
    stream.ws.send("{not json");
    stream.ws.send(JSON.stringify({ event: "bogus" }));
    const deadline = Date.now() + 3000;
    while (app.protocolErrors.length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(app.protocolErrors, ["invalid_json", "unknown_event"]);
    stream.ws.close();
    await within(stream.closed, 5000, "the socket to close");
  } finally {
    await shutdown(app);
  }
});

Deno.test("edge: the overall bound holds across addresses; limits follow MAX_CALLS", () => {
  assert.deepEqual(mediaSocketLimits(50), { maxPending: 50, maxPendingPerAddress: 25 });
  assert.deepEqual(mediaSocketLimits(1), { maxPending: 16, maxPendingPerAddress: 8 });
  const sockets = new MediaSockets({ maxPending: 3, maxPendingPerAddress: 2 });
  const streams = [0, 1, 2].map(() => new TwilioStream(new FakeSocket(), { mediaTimeoutMs: 0 }));
  sockets.track(streams[0], "10.0.0.1");
  sockets.track(streams[1], "10.0.0.1");
  assert.equal(sockets.admit("10.0.0.1"), "too_many_pending_from_address");
  assert.equal(sockets.admit("10.0.0.2"), "ok");
  sockets.track(streams[2], "10.0.0.2");
  assert.equal(sockets.admit("10.0.0.3"), "too_many_pending");
  const socket = new FakeSocket();
  const fourth = new TwilioStream(socket, { mediaTimeoutMs: 0 });
  sockets.track(fourth, "10.0.0.3");
  socket.peerClose();
  assert.equal(sockets.pending, 3, "a closed socket frees its place");
  assert.equal(sockets.open, 3);
});

Deno.test("edge: a database that hangs delays the replay check by a second at most, then the call goes ahead", async () => {
  const { promise: hung, resolve: unhang } = Promise.withResolvers<boolean>();
  const app = startTwilioTestServer({ routeDeps: { callRecorded: () => hung } });
  try {
    const started = performance.now();
    const { params, answer } = await webhook(app);
    assert.ok(answer.streamUrl, "the call is answered");
    assert.ok(performance.now() - started < 3000);
    const stream = await openStream(app, params.CallSid, answer.parameters);
    await streamsAccepted(app, 1);
    assert.equal(app.streams.length, 1);
    stream.ws.close();
    await within(stream.closed, 5000, "the socket to close");
  } finally {
    unhang(false);
    await shutdown(app);
  }
});
