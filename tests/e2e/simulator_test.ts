/**
 * The call simulator (`voice-agent call`) drives the real service, wired to the fake
 * Realtime server: as a function and as the `deno task call` subprocess. Also the signed
 * read-only call record route it reads the transcript from.
 */
import assert from "node:assert/strict";
import { decodeWav, encodeWav } from "../../src/codec/wav.ts";
import { decodeMulaw } from "../../src/codec/mulaw.ts";
import { signTwilioRequest } from "../../src/twilio/signature.ts";
import {
  callRecordPath,
  fetchCallRecord,
  formatCallRecord,
  parseSimulatorArgs,
  runSimulation,
  type SimulatorOptions,
} from "../../src/sim/cli.ts";
import { resampleTo8k, speechEndMs, wavBytesToMulaw8k } from "../../src/sim/audio_input.ts";
import { mulawSilence, synthTone, synthToneMulaw } from "../../src/codec/tones.ts";
import type { Responder } from "../../scripts/sim/fake_realtime.ts";
import { AUTH_TOKEN, type Harness, PUBLIC_URL, startHarness } from "../support/harness.ts";
import { fromFileUrl } from "../support/paths.ts";
import { runMain, taskFlags } from "../support/process.ts";
import { hasCommand, reportSkip } from "../support/requirements.ts";

const FIXTURE = fromFileUrl(
  new URL("../fixtures/caller_book_haircut_8k_pcm16.wav", import.meta.url),
);
const GREETING_MS = 1200;
const REPLY_MS = 1500;

/** Greets, then answers every caller turn with a question. */
const responder: Responder = (ctx) =>
  ctx.trigger === "response.create"
    ? { audioMs: GREETING_MS, transcript: "Thanks for calling, how can I help?" }
    : { audioMs: REPLY_MS, transcript: "Sure, which day would suit you?" };

async function harness(): Promise<Harness> {
  const h = await startHarness({
    env: { VAD_SILENCE_MS: "900" },
    fake: { transcripts: ["Hi, I'd like to book a haircut tomorrow afternoon."], responder },
  });
  return h;
}

function options(h: Harness, extra: Partial<SimulatorOptions> = {}): SimulatorOptions {
  return {
    ...h.target,
    turns: [{ kind: "wav", path: FIXTURE }],
    outFormat: "mulaw",
    pauseMs: 600,
    replyTimeoutMs: 10_000,
    maxMs: 30_000,
    from: "+15550001111",
    ...extra,
  };
}

/** Non-silent 20 ms frames of a PCM16 signal. */
function voicedFrames(pcm: Int16Array): number {
  let n = 0;
  for (let at = 0; at + 160 <= pcm.length; at += 160) {
    let sum = 0;
    for (let i = at; i < at + 160; i++) sum += pcm[i] * pcm[i];
    if (Math.sqrt(sum / 160) > 300) n++;
  }
  return n;
}

Deno.test("simulator: a WAV turn against the service; timeline, latency, recording and transcript", async () => {
  const h = await harness();
  const dir = await Deno.makeTempDir();
  try {
    const lines: string[] = [];
    const out = `${dir}/agent.wav`;
    const result = await runSimulation(options(h, { out }), (l) => lines.push(l));
    const printed = lines.join("\n");

    // The timeline: webhook, stream, greeting, the caller's turn, the reply, the latency.
    assert.match(
      printed,
      /webhook answered in \d+ ms: <Connect><Stream url="wss:\/\/voice\.example\.com\/twilio\/media">/,
    );
    assert.match(printed, /stream started: CA[0-9a-f]{32} \/ MZ[0-9a-f]{32}/);
    assert.match(printed, /caller {2}turn 1 starts: .*caller_book_haircut_8k_pcm16\.wav/);
    assert.match(printed, /caller {2}turn 1 speech ends/);
    assert.equal(lines.filter((l) => /agent {3}audio starts/.test(l)).length, 2, printed);
    // A mark per 200 ms of agent audio (MARK_INTERVAL_MS): 1200 ms is six marks, all echoed.
    assert.match(printed, /agent {3}audio ends: 1200 ms played, 6 marks echoed/);

    // Turn latency: speech end -> first agent audio; at least the server VAD's 900 ms.
    assert.equal(result.turns.length, 1);
    const [turn] = result.turns;
    assert.ok(turn.latencyMs !== undefined, "the agent replied");
    assert.match(printed, new RegExp(`turn 1 latency: ${turn.latencyMs} ms after speech end`));
    assert.match(printed, new RegExp(`caller-measured turn latency: turn 1 ${turn.latencyMs} ms`));
    // The speech end was placed on the fixture's last voiced frame, not its trailing silence.
    const fixture = wavBytesToMulaw8k(await Deno.readFile(FIXTURE));
    assert.ok(
      Math.abs(turn.speechEndAtMs - (turn.sentAtMs + speechEndMs(fixture))) < 200,
      JSON.stringify(turn),
    );

    // The recording holds exactly the agent's audio: greeting + reply, all voiced.
    assert.equal(result.caller.agentAudioMsReceived, GREETING_MS + REPLY_MS);
    const wav = decodeWav(await Deno.readFile(out));
    assert.deepEqual([wav.encoding, wav.sampleRate, wav.channels], ["mulaw", 8000, 1]);
    assert.deepEqual(wav.data, result.agentAudio);
    assert.equal(wav.data.length, (GREETING_MS + REPLY_MS) * 8);
    assert.ok(voicedFrames(decodeMulaw(wav.data)) >= (GREETING_MS + REPLY_MS) / 20 - 4);
    assert.equal(result.segments.length, 2);
    assert.deepEqual(result.segments.map((s) => s.playedMs), [GREETING_MS, REPLY_MS]);
    assert.deepEqual(result.caller.events.filter((e) => e.type === "violation"), []);

    // The transcript printed is the stored record's, fetched through the signed route.
    const stored = await h.app.store.getCall(result.callSid);
    assert.ok(stored?.endedAt);
    assert.deepEqual(result.record, stored);
    assert.ok(stored.transcript.length >= 3, JSON.stringify(stored.transcript));
    for (const line of formatCallRecord(stored)) assert.ok(lines.includes(line), line);
    assert.match(printed, /\n {2}agent: Thanks for calling, how can I help\?/);
    assert.match(printed, /\n {2}caller: Hi, I'd like to book a haircut tomorrow afternoon\./);
    assert.match(printed, /\n {2}agent: Sure, which day would suit you\?/);
    assert.match(printed, /server turn latency: \d+ ms/);
    // The server times speech_stopped (after its 900 ms VAD silence) -> first audio sent;
    // the caller hears the VAD silence too, so it measures more (thresholds differ a little).
    assert.equal(stored.latency.turnMs?.length, 1);
    const serverMs = stored.latency.turnMs[0];
    assert.ok(turn.latencyMs! >= serverMs + 600, `caller ${turn.latencyMs} / server ${serverMs}`);
    assert.ok(turn.latencyMs! < serverMs + 1500, `caller ${turn.latencyMs} / server ${serverMs}`);
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("simulator: GET /calls/:sid needs the Twilio signature; 404 for an unknown call", async () => {
  // Even with webhook validation off, the record route checks signatures (it holds PII).
  await using h = await startHarness({
    env: { TWILIO_VALIDATE_SIGNATURES: "false", TWILIO_ALLOW_UNSIGNED: "true" },
  });
  const path = callRecordPath("CA" + "0".repeat(32));
  const unsigned = await fetch(h.app.baseUrl + path);
  assert.equal(unsigned.status, 403);
  await unsigned.body?.cancel();
  const wrongToken = await fetch(h.app.baseUrl + path, {
    headers: { "x-twilio-signature": signTwilioRequest("not-the-token", PUBLIC_URL + path, {}) },
  });
  assert.equal(wrongToken.status, 403);
  await wrongToken.body?.cancel();
  // Signed for another path: no replay of one record's signature on another.
  const otherPath = await fetch(h.app.baseUrl + path, {
    headers: {
      "x-twilio-signature": signTwilioRequest(AUTH_TOKEN, PUBLIC_URL + "/calls/CA1", {}),
    },
  });
  assert.equal(otherPath.status, 403);
  await otherPath.body?.cancel();
  const missing = await fetchCallRecord(h.target, "CA" + "0".repeat(32));
  assert.equal(missing, undefined);
});

Deno.test("simulator: `deno task call` (its exact permissions) places a call from the command line [needs espeak-ng]", async () => {
  const h = await harness();
  const dir = await Deno.makeTempDir();
  try {
    const say = await hasCommand("espeak-ng");
    // Without espeak-ng the command line is still tested, with the WAV fixture: say so.
    if (!say) reportSkip("the --say part of `deno task call`", "espeak-ng", "install espeak-ng");
    const turn = say ? ["--say", "Hi, I'd like to book a haircut tomorrow afternoon."] : [
      "--wav",
      FIXTURE,
    ];
    const out = await runMain(
      [
        "call",
        "--server",
        h.app.baseUrl,
        "--public-url",
        PUBLIC_URL,
        ...turn,
        "--out",
        "agent.wav",
        "--out-format",
        "pcm16",
        "--pause-ms",
        "600",
        "--max-seconds",
        "30",
      ],
      await taskFlags("call"),
      { TWILIO_AUTH_TOKEN: AUTH_TOKEN },
      dir,
    ).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /turn 1 latency: \d+ ms/);
    const sid = /stream started: (CA[0-9a-f]{32})/.exec(stdout)?.[1];
    assert.ok(sid, stdout);
    const stored = await h.app.store.getCall(sid);
    assert.ok(stored);
    for (const line of formatCallRecord(stored)) assert.ok(stdout.includes(line), line);
    const wav = decodeWav(await Deno.readFile(`${dir}/agent.wav`));
    assert.deepEqual([wav.encoding, wav.sampleRate], ["pcm16", 8000]);
    assert.equal(wav.data.length, (GREETING_MS + REPLY_MS) * 8 * 2);
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function rms(pcm: Int16Array, from = 0, to = pcm.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += pcm[i] * pcm[i];
  return Math.sqrt(sum / (to - from));
}

Deno.test("simulator: any-rate WAV input is resampled to 8 kHz (pass band kept, alias band cut)", () => {
  for (const rate of [22050, 16000, 44100, 24000]) {
    const pass = resampleTo8k(
      synthTone({ frequencyHz: 1000, durationMs: 1000, sampleRate: rate }),
      rate,
    );
    assert.ok(Math.abs(pass.length - 8000) <= 40, `${rate}: ${pass.length} samples`);
    const expected = rms(
      synthTone({ frequencyHz: 1000, durationMs: 1000, sampleRate: 8000 }),
      400,
      7600,
    );
    const gainDb = 20 * Math.log10(rms(pass, 400, 7600) / expected);
    assert.ok(Math.abs(gainDb) < 0.5, `${rate}: 1 kHz gain ${gainDb.toFixed(2)} dB`);
    // 6 kHz would fold to 2 kHz at 8 kHz: it must be filtered out, not aliased.
    const stop = resampleTo8k(
      synthTone({ frequencyHz: 6000, durationMs: 1000, sampleRate: rate }),
      rate,
    );
    const rejectDb = 20 * Math.log10(rms(stop, 400, 7600) / expected);
    assert.ok(rejectDb < -40, `${rate}: 6 kHz leaks at ${rejectDb.toFixed(1)} dB`);
  }
  // A stereo 16 kHz PCM16 file becomes mono 8 kHz mu-law of the right length.
  const mono = synthTone({ frequencyHz: 440, durationMs: 500, sampleRate: 16000 });
  const stereo = new Int16Array(mono.length * 2);
  mono.forEach((v, i) => (stereo[2 * i] = stereo[2 * i + 1] = v));
  const mulaw = wavBytesToMulaw8k(
    encodeWav(stereo, { encoding: "pcm16", sampleRate: 16000, channels: 2 }),
  );
  assert.ok(Math.abs(mulaw.length - 4000) <= 20, `${mulaw.length}`);
});

Deno.test("simulator: speech end is the last voiced frame, not trailing silence", () => {
  const audio = new Uint8Array([
    ...mulawSilence(400),
    ...synthToneMulaw({ frequencyHz: 500, durationMs: 1000, fadeMs: 0 }),
    ...mulawSilence(1200),
  ]);
  assert.equal(speechEndMs(audio), 1400);
  assert.equal(speechEndMs(mulawSilence(500)), 0);
});

Deno.test("simulator: arguments keep turn order, take defaults from env/.env, list every problem", () => {
  const env = { PORT: "9090", PUBLIC_URL: "https://voice.example.com", TWILIO_AUTH_TOKEN: "t" };
  const ok = parseSimulatorArgs(["--say", "one", "--wav", "two.wav", "--say", "three"], env);
  assert.equal(ok.kind, "run");
  if (ok.kind !== "run") return;
  assert.deepEqual(ok.options.turns, [
    { kind: "say", text: "one" },
    { kind: "wav", path: "two.wav" },
    { kind: "say", text: "three" },
  ]);
  assert.equal(ok.options.serverUrl, "http://127.0.0.1:9090");
  assert.equal(ok.options.publicUrl, "https://voice.example.com");
  assert.equal(ok.options.maxMs, 120_000);
  assert.equal(parseSimulatorArgs(["--help"], {}).kind, "help");
  const bad = parseSimulatorArgs(["--out-format", "mp3", "--dtmf", "12x"], {});
  assert.equal(bad.kind, "error");
  if (bad.kind !== "error") return;
  for (const p of [/PUBLIC_URL/, /TWILIO_AUTH_TOKEN/, /--out-format/, /--dtmf/]) {
    assert.match(bad.message, p);
  }
  assert.equal(parseSimulatorArgs(["--frobnicate"], env).kind, "error");
});

Deno.test("simulator: a mark echo that comes in after its audio has played counts with that audio", async () => {
  // A scripted service: 200 ms of agent audio, then the mark for it 250 ms later (50 ms
  // after the caller played it), as when a loaded machine stalls between two messages.
  let markSentAt = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/twilio/voice") {
      return new Response(
        '<Response><Connect><Stream url="wss://voice.example.com/twilio/media"/></Connect></Response>',
        { headers: { "content-type": "text/xml" } },
      );
    }
    if (path !== "/twilio/media") return new Response("not found", { status: 404 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    let timer: ReturnType<typeof setTimeout> | undefined;
    socket.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.event !== "start") return;
      const streamSid = msg.start.streamSid;
      const payload = mulawSilence(200).toBase64();
      socket.send(JSON.stringify({ event: "media", streamSid, media: { payload } }));
      timer = setTimeout(() => {
        markSentAt = performance.now();
        socket.send(JSON.stringify({ event: "mark", streamSid, mark: { name: "late" } }));
      }, 250);
    };
    socket.onclose = () => clearTimeout(timer);
    return response;
  });
  try {
    const lines: string[] = [];
    const result = await runSimulation({
      serverUrl: `http://127.0.0.1:${server.addr.port}`,
      publicUrl: PUBLIC_URL,
      authToken: AUTH_TOKEN,
      turns: [],
      outFormat: "mulaw",
      pauseMs: 300,
      replyTimeoutMs: 5_000,
      maxMs: 10_000,
    }, (l) => lines.push(l));
    const printed = lines.join("\n");
    assert.ok(markSentAt > 0, printed);
    assert.match(printed, /agent {3}audio ends: 200 ms played, 1 marks echoed/);
    assert.deepEqual(result.segments.map((s) => [s.playedMs, s.marks]), [[200, 1]]);
    assert.deepEqual(
      result.caller.events.filter((e) => e.type === "mark_echo").map((e) => e.name),
      ["late"],
    );
  } finally {
    await server.shutdown();
  }
});
