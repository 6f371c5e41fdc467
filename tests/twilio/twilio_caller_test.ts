import assert from "node:assert/strict";
import { parseStreamTwiml, TwilioCaller } from "../../src/sim/twilio_caller.ts";
import type { TwilioStream } from "../../src/twilio/media_stream.ts";
import { streamTwiml } from "../../src/twilio/twiml.ts";
import { startTwilioTestServer } from "../support/twilio_test_server.ts";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    while (!server) await wait(5);
    const s = server;
    // Nothing buffered: echoed at once.
    s.mark("idle");
    await wait(50);
    assert.deepEqual(marks.map((m) => m.name), ["idle"]);
    assert.equal(caller.events.at(-1)?.type, "mark_echo");

    // 300 ms then 300 ms of audio, a mark after each: echoed as each part has played.
    const sentAt = performance.now() - t0;
    s.sendAudio(new Uint8Array(2400).fill(1));
    s.mark("first");
    s.sendAudio(new Uint8Array(2400).fill(2));
    s.mark("second");
    await wait(750);
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

    // 1 s of audio with a mark, cleared after ~200 ms: the mark comes back at once.
    s.sendAudio(new Uint8Array(8000).fill(3));
    s.mark("third");
    await wait(200);
    s.clear();
    await wait(60);
    assert.ok(marks.some((m) => m.name === "third"), "clear echoes pending marks");
    const clear = caller.events.find((e) => e.type === "clear");
    assert.ok(clear && clear.type === "clear");
    assert.ok(clear.droppedMs > 650 && clear.droppedMs <= 820, `dropped ${clear.droppedMs} ms`);
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
    await wait(50);
    caller.sendDtmf("4");
    caller.sendDtmf("#");
    const result = await caller.done;
    assert.deepEqual(digits, ["4", "#"]);
    assert.equal(result.closedBy, "server");
    assert.equal(result.closeReason, "goodbye");
  } finally {
    await app.close();
  }
});
