import assert from "node:assert/strict";
import { parseStreamTwiml, TwilioCaller } from "../../src/sim/twilio_caller.ts";
import type { TwilioStream } from "../../src/twilio/media_stream.ts";
import { streamTwiml } from "../../src/twilio/twiml.ts";
import { startTwilioTestServer } from "../support/twilio_test_server.ts";
import { waitUntil, within } from "../support/wait.ts";

Deno.test("fake caller: parses our TwiML back (url and escaped parameters)", () => {
  const twiml = streamTwiml({
    publicUrl: "https://voice.example.com",
    parameters: { callToken: "v1.a.b", note: `a&b "c" <d>` },
  });
  assert.deepEqual(parseStreamTwiml(twiml), {
    streamUrl: "wss://voice.example.com/twilio/media",
    parameters: { callToken: "v1.a.b", note: `a&b "c" <d>` },
  });
});

Deno.test("fake caller: plays audio in real time, echoes marks when played, clear flushes", async () => {
  const marks: { name: string; at: number }[] = [];
  let server: TwilioStream | undefined;
  const t0 = performance.now();
  const app = startTwilioTestServer({
    onStream: (stream, _start, on) => {
      server = stream;
      on.mark = (name) => marks.push({ name, at: performance.now() - t0 });
    },
  });
  try {
    const caller = await TwilioCaller.dial(app.callerOptions);
    await waitUntil(() => server !== undefined, 5000, "the stream");
    const s = server!;
    // Nothing buffered: echoed at once (no audio to wait for; the wait is only the socket).
    s.mark("idle");
    await waitUntil(() => marks.length > 0, 5000, "the idle mark's echo");
    assert.deepEqual(marks.map((m) => m.name), ["idle"]);
    assert.equal(caller.events.at(-1)?.type, "mark_echo");

    // 300 ms then 300 ms of audio, a mark after each: echoed as each part has played.
    const sentAt = performance.now() - t0;
    s.sendAudio(new Uint8Array(2400).fill(1));
    s.mark("first");
    s.sendAudio(new Uint8Array(2400).fill(2));
    s.mark("second");
    await waitUntil(() => marks.length === 3, 5000, "both marks echoed");
    const first = marks.find((m) => m.name === "first")!;
    const second = marks.find((m) => m.name === "second")!;
    assert.ok(
      first.at - sentAt >= 280 && first.at - sentAt < 450,
      `first at +${first.at - sentAt}`,
    );
    assert.ok(
      second.at - sentAt >= 580 && second.at - sentAt < 750,
      `second at +${second.at - sentAt}`,
    );

    // 1 s of audio with a mark, cleared after 200 ms or more of it played: the mark comes
    // back at once, flagged as flushed.
    s.sendAudio(new Uint8Array(8000).fill(3));
    s.mark("third");
    const before = caller.agentAudioMsPlayed;
    await waitUntil(() => caller.agentAudioMsPlayed >= before + 200, 5000, "200 ms played");
    s.clear();
    await waitUntil(() => marks.some((m) => m.name === "third"), 5000, "the flushed mark");
    const clear = caller.events.find((e) => e.type === "clear");
    assert.ok(clear && clear.type === "clear");
    assert.ok(clear.droppedMs > 0 && clear.droppedMs <= 800, `dropped ${clear.droppedMs} ms`);
    const echo = caller.events.find((e) => e.type === "mark_echo" && e.name === "third");
    assert.ok(echo && echo.type === "mark_echo" && echo.cleared);

    const result = await caller.hangUp();
    assert.equal(result.agentAudioMsReceived, 300 + 300 + 1000);
    assert.ok(
      Math.abs(result.agentAudioMsPlayed - (600 + 1000 - clear.droppedMs)) < 1,
      `played ${result.agentAudioMsPlayed}`,
    );
    assert.equal(caller.receivedAudio().length, 12_800);
    assert.deepEqual(result.events.filter((e) => e.type === "violation"), []);
  } finally {
    await app.close();
  }
});

Deno.test("fake caller: network delay each way and a jitter buffer delay echoes; heard audio skips what a clear dropped", async () => {
  const marks: { name: string; at: number }[] = [];
  let server: TwilioStream | undefined;
  const app = startTwilioTestServer({
    onStream: (stream, _start, on) => {
      server = stream;
      on.mark = (name) => marks.push({ name, at: performance.now() });
    },
  });
  try {
    const caller = await TwilioCaller.dial({
      ...app.callerOptions,
      network: { downMs: 60, upMs: 60, jitterBufferMs: 40 },
    });
    await waitUntil(() => server !== undefined, 5000, "the stream");
    const s = server!;
    // An idle mark still travels both ways: about 120 ms.
    let sentAt = performance.now();
    s.mark("idle");
    await waitUntil(() => marks.length === 1, 5000, "the idle echo");
    const idleTrip = marks[0].at - sentAt;
    assert.ok(idleTrip >= 115 && idleTrip < 400, `idle echo after ${idleTrip} ms`);

    // 300 ms of audio: down 60 + jitter 40 + 300 played + up 60 = 460 ms to its echo.
    sentAt = performance.now();
    s.sendAudio(new Uint8Array(2400).fill(0x11));
    s.mark("played");
    await waitUntil(() => marks.length === 2, 5000, "the echo after the audio");
    const trip = marks[1].at - sentAt;
    assert.ok(trip >= 455 && trip < 800, `echo after ${trip} ms`);

    // 1 s more, cleared once some of it played: the caller heard 300 ms + the part before
    // the clear reached it, nothing of what was dropped.
    s.sendAudio(new Uint8Array(8000).fill(0x22));
    const before = caller.agentAudioMsPlayed;
    await waitUntil(() => caller.agentAudioMsPlayed >= before + 100, 5000, "100 ms played");
    s.clear();
    await waitUntil(() => caller.events.some((e) => e.type === "clear"), 5000, "the clear");
    const clear = caller.events.find((e) => e.type === "clear")!;
    assert.ok(clear.type === "clear");
    // The clear took 60 ms to arrive: the caller heard more than the service knew about.
    assert.ok(
      clear.playedMsAtClear - clear.playedMsWhenSent >= 55,
      `${clear.playedMsWhenSent} -> ${clear.playedMsAtClear}`,
    );
    const heard = caller.heardAudio();
    assert.equal(heard.length, Math.floor(clear.playedMsAtClear * 8));
    assert.ok(heard.subarray(0, 2400).every((b) => b === 0x11));
    assert.ok(heard.subarray(2400).every((b) => b === 0x22));
    assert.equal(caller.receivedAudio().length, 2400 + 8000);
    const result = await caller.hangUp();
    assert.equal(result.agentAudioMsPlayed, clear.playedMsAtClear, "nothing played after");
    assert.deepEqual(result.events.filter((e) => e.type === "violation"), []);
  } finally {
    await app.close();
  }
});

Deno.test("fake caller: DTMF reaches the server; a server close ends the call", async () => {
  const digits: string[] = [];
  const app = startTwilioTestServer({
    onStream: (stream, _start, on) => {
      on.dtmf = (d) => {
        digits.push(d);
        if (digits.length === 2) stream.close(1000, "goodbye");
      };
    },
  });
  try {
    const caller = await TwilioCaller.dial(app.callerOptions);
    await waitUntil(() => app.streams.length === 1, 5000, "the stream accepted");
    caller.sendDtmf("4");
    caller.sendDtmf("#");
    const result = await within(caller.done, 5000, "the server closing");
    assert.deepEqual(digits, ["4", "#"]);
    assert.equal(result.closedBy, "server");
    // The close frame carries the reason, but the caller is still streaming media: a frame
    // that reaches the server after its close makes it reset the connection, and a TCP
    // reset discards the close frame not yet read (about 1 run in 25 here). Then the reason
    // is lost on the way, never a different one.
    const lost = result.closeReason === "" && [0, 1005, 1006].includes(result.closeCode);
    if (!lost) assert.equal(result.closeReason, "goodbye", `code ${result.closeCode}`);
  } finally {
    await app.close();
  }
});
