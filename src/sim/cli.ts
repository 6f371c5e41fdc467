/**
 * `voice-agent call` / `deno task call`: try a call without a phone. Acts as Twilio against a
 * running server: signs and posts the voice webhook, opens the media stream with Twilio's
 * framing, speaks WAV files or espeak-ng sentences in real time (one caller turn each, each
 * sent once the agent has stopped talking), plays the agent's audio and echoes marks like
 * Twilio, records what the agent said to a WAV, and prints a timeline with the measured
 * turn latency. At the end it fetches the stored call record (`GET /calls/:sid`, signed with
 * the Twilio auth token) and prints the transcript and the server's latency figures.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import type { CallRecord } from "../call/record.ts";
import { encodeWav } from "../codec/wav.ts";
import { decodeMulaw } from "../codec/mulaw.ts";
import { environmentWithDotenv } from "../env_file.ts";
import { signTwilioRequest } from "../twilio/signature.ts";
import { callRecordPath as signedRecordPath } from "../admin_routes.ts";
import { readWavAsMulaw8k, speakToMulaw8k, speechEndMs } from "./audio_input.ts";
import { type CallerEvent, type CallerResult, TwilioCaller } from "./twilio_caller.ts";
import { errorMessage } from "../errors.ts";

/** Usage text of `voice-agent call --help`. */
export const SIMULATOR_USAGE = `voice-agent call: act as Twilio and place a simulated call

Usage:
  voice-agent call [options]          (from the source tree: deno task call [options])

Caller audio (each --wav / --say is one caller turn, sent after the agent stops talking):
  --wav FILE          a WAV file (PCM16 or mu-law, any rate/channels; resampled to 8 kHz)
  --say "SENTENCE"    a sentence spoken with espeak-ng (needs espeak-ng and --allow-run)
  --dtmf DIGITS       key presses sent after the greeting, before the first turn

Where and as whom:
  --server URL        where the server listens (default http://127.0.0.1:$PORT, PORT=8080)
  --public-url URL    the public URL the server signs against (default $PUBLIC_URL)
  --from NUMBER       caller number (default +15557654321)
  --to NUMBER         number called (default +15550001111)
  --env-file PATH     read variables from this file instead of ./.env
                      (TWILIO_AUTH_TOKEN, PUBLIC_URL and PORT are read from env/.env)

Output and timing:
  --out FILE          write everything the agent said to this WAV file (folders created)
  --out-format F      mulaw (default) or pcm16
  --pause-ms MS       agent silence that counts as "done talking" (default 1000)
  --reply-timeout S   give up waiting for an agent reply after S seconds (default 15)
  --max-seconds S     hang up after S seconds whatever happens (default 120)
  -h, --help          this text`;

/** Everything a simulated call needs. */
export interface SimulatorOptions {
  /** Where the server really listens, e.g. `http://127.0.0.1:8080`. */
  serverUrl: string;
  /** Public URL the server signs against (`PUBLIC_URL`). */
  publicUrl: string;
  /** `TWILIO_AUTH_TOKEN`. */
  authToken: string;
  /** Caller turns in order. */
  turns: TurnSource[];
  dtmf?: string;
  from?: string;
  to?: string;
  /** Path of the agent recording. */
  out?: string;
  outFormat: "mulaw" | "pcm16";
  /** Agent silence that counts as done talking, ms. */
  pauseMs: number;
  /** Longest wait for an agent reply, ms. */
  replyTimeoutMs: number;
  /** Hard limit of the whole call, ms. */
  maxMs: number;
}

/** Where a caller turn's audio comes from. */
export type TurnSource =
  | { kind: "wav"; path: string }
  | { kind: "say"; text: string }
  | { kind: "audio"; label: string; mulaw: Uint8Array };

/** Outcome of {@linkcode parseSimulatorArgs}. */
export type SimulatorArgs =
  | { kind: "help" }
  | { kind: "error"; message: string }
  | { kind: "run"; options: SimulatorOptions };

/**
 * Parses `voice-agent call` arguments; defaults come from `env` (the environment merged
 * with `.env`). Never throws.
 */
export function parseSimulatorArgs(
  args: string[],
  env: Record<string, string | undefined>,
): SimulatorArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        server: { type: "string" },
        "public-url": { type: "string" },
        wav: { type: "string", multiple: true },
        say: { type: "string", multiple: true },
        dtmf: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        out: { type: "string" },
        "out-format": { type: "string" },
        "pause-ms": { type: "string" },
        "reply-timeout": { type: "string" },
        "max-seconds": { type: "string" },
        "env-file": { type: "string" },
      },
      tokens: true,
    });
  } catch (error) {
    return { kind: "error", message: errorMessage(error) };
  }
  const v = parsed.values;
  if (v.help) return { kind: "help" };
  const problems: string[] = [];
  const number = (name: string, raw: string | undefined, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) problems.push(`--${name} must be a number >= ${min}`);
    return n;
  };
  const port = env.PORT?.trim() || "8080";
  const serverUrl = v.server ?? `http://127.0.0.1:${port}`;
  const publicUrl = v["public-url"] ?? env.PUBLIC_URL?.trim();
  const authToken = env.TWILIO_AUTH_TOKEN?.trim();
  if (!publicUrl) problems.push("PUBLIC_URL is not set: pass --public-url or set it in env/.env");
  if (!authToken) problems.push("TWILIO_AUTH_TOKEN is not set (env or .env)");
  for (const [name, url] of [["--server", serverUrl], ["--public-url", publicUrl]] as const) {
    if (url && !URL.canParse(url)) problems.push(`${name} is not a URL: ${url}`);
  }
  const outFormat = v["out-format"] ?? "mulaw";
  if (outFormat !== "mulaw" && outFormat !== "pcm16") {
    problems.push("--out-format must be mulaw or pcm16");
  }
  if (v.dtmf !== undefined && !/^[0-9*#]+$/.test(v.dtmf)) {
    problems.push("--dtmf takes digits, * and #");
  }
  // Keep --wav and --say turns in the order they were given.
  const turns: TurnSource[] = [];
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== "option" || token.value === undefined) continue;
    if (token.name === "wav") turns.push({ kind: "wav", path: token.value });
    if (token.name === "say") turns.push({ kind: "say", text: token.value });
  }
  const options: SimulatorOptions = {
    serverUrl: serverUrl.replace(/\/+$/, ""),
    publicUrl: publicUrl ?? "",
    authToken: authToken ?? "",
    turns,
    dtmf: v.dtmf,
    from: v.from,
    to: v.to,
    out: v.out,
    outFormat: outFormat as "mulaw" | "pcm16",
    pauseMs: number("pause-ms", v["pause-ms"], 1000, 0),
    replyTimeoutMs: number("reply-timeout", v["reply-timeout"], 15, 0) * 1000,
    maxMs: number("max-seconds", v["max-seconds"], 120, 1) * 1000,
  };
  if (problems.length > 0) return { kind: "error", message: problems.join("\n") };
  return { kind: "run", options };
}

/** A caller turn as measured. */
export interface TurnMeasurement {
  /** 1-based turn number. */
  turn: number;
  label: string;
  /** When its audio started being sent (ms since the call started). */
  sentAtMs: number;
  /** When the caller's speech in it ended (last voiced frame). */
  speechEndAtMs: number;
  /** First agent audio received after the speech ended. */
  firstAgentAudioAtMs?: number;
  /** `firstAgentAudioAtMs - speechEndAtMs`. */
  latencyMs?: number;
}

/** One stretch of agent audio as the caller played it. */
export interface AgentSegment {
  startMs: number;
  endMs: number;
  /** Ms of audio played in it. */
  playedMs: number;
  /** Ended by a `clear` (barge-in). */
  cleared: boolean;
  /** Marks echoed while it played (Twilio echoes each once the audio before it played). */
  marks: number;
}

/** What a simulated call produced. */
export interface SimulationResult {
  callSid: string;
  caller: CallerResult;
  turns: TurnMeasurement[];
  segments: AgentSegment[];
  /** Everything the agent sent, 8 kHz mu-law. */
  agentAudio: Uint8Array;
  /** The stored call record, if it could be fetched. */
  record?: CallRecord;
}

/** Path of the call record route for `callSid`, signed URLs valid for `validSeconds`. */
export function callRecordPath(callSid: string, validSeconds = 60): string {
  return signedRecordPath(callSid, Date.now() / 1000 + validSeconds);
}

/**
 * Fetches the stored call record with a Twilio-style signature; undefined on 404.
 * Throws on other failures (e.g. 403: wrong auth token or public URL).
 */
export async function fetchCallRecord(
  options: Pick<SimulatorOptions, "serverUrl" | "publicUrl" | "authToken">,
  callSid: string,
): Promise<CallRecord | undefined> {
  const path = callRecordPath(callSid);
  const signature = signTwilioRequest(
    options.authToken,
    new URL(options.publicUrl).origin + path,
    {},
  );
  const res = await fetch(options.serverUrl + path, {
    headers: { "x-twilio-signature": signature },
  });
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.ok) {
    const body = (await res.text()).trim();
    throw new Error(
      `GET ${path}: HTTP ${res.status} ${body}` +
        (res.status === 403 ? `; ${signatureHint(options)}` : ""),
    );
  }
  return await res.json() as CallRecord;
}

/** What to check when the service refuses our signatures (names the settings, never the token). */
function signatureHint(options: Pick<SimulatorOptions, "publicUrl">): string {
  return `the service checks Twilio signatures against its own PUBLIC_URL and ` +
    `TWILIO_AUTH_TOKEN; this caller signed for ${options.publicUrl} with the ` +
    "TWILIO_AUTH_TOKEN of its environment/.env: make --public-url (or PUBLIC_URL) and " +
    "TWILIO_AUTH_TOKEN the same as the service's";
}

/** A failed dial in words an operator can act on: which setting, which address. */
export function explainDialError(
  error: unknown,
  options: Pick<SimulatorOptions, "serverUrl" | "publicUrl">,
): string {
  const message = errorMessage(error);
  if (/\(HTTP 403\)|media socket failed.*403/.test(message)) {
    return `${message}: ${signatureHint(options)}`;
  }
  if (
    error instanceof TypeError ||
    /connection refused|error sending request|fetch failed|media socket failed/i.test(message)
  ) {
    return `nothing answers at ${options.serverUrl} (${message}). Is the service running ` +
      "(deno task start)? Point --server at it, or set PORT in the environment/.env.";
  }
  return message;
}

/** The transcript and figures of a call record as printable lines. */
export function formatCallRecord(record: CallRecord): string[] {
  const lines = [`call record ${record.callSid}: outcome ${record.outcome}`, "transcript:"];
  for (const t of record.transcript) {
    lines.push(`  ${t.role}: ${t.text}${t.interrupted ? " [interrupted]" : ""}`);
  }
  for (const tool of record.toolCalls) {
    const outcome = tool.error ? `error: ${tool.error}` : JSON.stringify(tool.result);
    lines.push(
      `  tool ${tool.name}(${JSON.stringify(tool.arguments)}) -> ${outcome} ` +
        `[${Math.round(tool.durationMs)} ms]`,
    );
  }
  const turns = record.latency.turnMs ?? [];
  lines.push(
    `server turn latency: ${
      turns.length ? turns.map((ms) => `${Math.round(ms)} ms`).join(", ") : "none"
    }` +
      (record.latency.p50Ms !== undefined ? `; p50 ${Math.round(record.latency.p50Ms)} ms` : "") +
      (record.latency.p95Ms !== undefined ? `; p95 ${Math.round(record.latency.p95Ms)} ms` : ""),
  );
  if (record.bargeIns.length > 0) lines.push(`barge-ins: ${record.bargeIns.length}`);
  return lines;
}

const POLL_MS = 10;
/**
 * How long a played-out stretch of agent audio waits for late mark echoes before its
 * "audio ends" line (ms). A mark sent right after the last chunk can reach the caller
 * after that chunk has played when the machine stalls between the two messages.
 */
const MARK_SETTLE_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Places one simulated call and prints its timeline with `print`.
 * Throws when the call cannot be connected (webhook refused, socket failed) or an audio
 * source cannot be read.
 */
export async function runSimulation(
  options: SimulatorOptions,
  print: (line: string) => void = console.log,
): Promise<SimulationResult> {
  // Prepare every turn first: a missing file should fail before the phone rings.
  const turns: { label: string; mulaw: Uint8Array }[] = [];
  for (const source of options.turns) {
    if (source.kind === "wav") {
      turns.push({ label: source.path, mulaw: await readWavAsMulaw8k(source.path) });
    } else if (source.kind === "say") {
      turns.push({ label: JSON.stringify(source.text), mulaw: await speakToMulaw8k(source.text) });
    } else turns.push({ label: source.label, mulaw: source.mulaw });
  }

  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const stamp = (ms: number) => `${(ms / 1000).toFixed(3).padStart(8)}s`;
  const log = (line: string, at = now()) => print(`${stamp(at)}  ${line}`);

  // Agent audio bookkeeping, fed by the caller's hooks and a poll loop. Audio a `clear`
  // dropped was received but never plays: the playout position is received - dropped.
  const mediaArrivals: number[] = [];
  let receivedBytes = 0;
  let droppedBytes = 0;
  const queuedMs = () => (receivedBytes - droppedBytes) / 8;
  const segments: AgentSegment[] = [];
  // playedOutAt: when the caller had played all of it. The segment stays open for
  // MARK_SETTLE_MS more, so a mark echo that comes in after the audio it follows has
  // played (its message was late) is still counted with that audio.
  let open:
    | { startMs: number; startPlayedMs: number; marks: number; playedOutAt?: number }
    | undefined;
  // The turn whose speech has ended and whose reply has not started yet.
  let awaitingReply: TurnMeasurement | undefined;
  let lastAgentActivity = 0;
  let closed = false;
  let caller: TwilioCaller | undefined;

  const closeSegment = (cleared: boolean, playedMs: number, at = now()) => {
    if (!open) return;
    const seg = {
      startMs: open.startMs,
      endMs: at,
      playedMs: Math.round(playedMs - open.startPlayedMs),
      cleared,
      marks: open.marks,
    };
    segments.push(seg);
    open = undefined;
    lastAgentActivity = at;
    log(
      `agent   audio ends: ${seg.playedMs} ms played, ${seg.marks} marks echoed` +
        (cleared ? " (cleared by barge-in)" : ""),
      at,
    );
  };
  /** Ends the open stretch where it played out, if it has (its marks had their wait). */
  const closePlayedOut = () => {
    if (open?.playedOutAt !== undefined) closeSegment(false, queuedMs(), open.playedOutAt);
  };
  const onEvent = (event: CallerEvent) => {
    if (event.type === "clear") {
      closePlayedOut(); // a stretch that had played out before the clear ended on its own
      droppedBytes += event.droppedMs * 8; // fractional: playback is timed, not whole bytes
      log(`twilio  clear received (barge-in): dropped ${Math.round(event.droppedMs)} ms`);
      closeSegment(true, event.playedMsAtClear);
    } else if (event.type === "mark_echo") {
      // One mark per chunk: count them per segment instead of printing each.
      if (open) open.marks++;
      if (event.cleared) log(`twilio  mark "${event.name}" echoed on clear`);
    } else if (event.type === "violation") {
      log(`twilio  PROTOCOL VIOLATION by the server: ${event.message}`);
    } else log(`caller  DTMF ${event.digit}`);
  };
  const onMedia = (mulaw: Uint8Array) => {
    const at = now();
    mediaArrivals.push(at);
    closePlayedOut(); // audio after a gap is a new stretch: the last one ended where it did
    if (!open) {
      // Playout was idle: everything queued before this media has played.
      open = { startMs: at, startPlayedMs: queuedMs(), marks: 0 };
      const turn = awaitingReply;
      awaitingReply = undefined;
      if (turn) {
        turn.firstAgentAudioAtMs = at;
        turn.latencyMs = Math.round(at - turn.speechEndAtMs);
      }
      log(
        "agent   audio starts" +
          (turn ? ` (turn ${turn.turn} latency: ${turn.latencyMs} ms after speech end)` : ""),
        at,
      );
    }
    receivedBytes += mulaw.length;
    lastAgentActivity = at;
  };

  const dialStarted = now();
  try {
    caller = await TwilioCaller.dial({
      serverUrl: options.serverUrl,
      publicUrl: options.publicUrl,
      authToken: options.authToken,
      from: options.from,
      to: options.to,
      onMedia,
      onEvent,
    });
  } catch (error) {
    const message = explainDialError(error, options);
    log(`webhook FAILED: ${message}`);
    throw new Error(message, { cause: error });
  }
  const active = caller;
  log(
    `webhook answered in ${
      Math.round(now() - dialStarted)
    } ms: <Connect><Stream url="${active.answer.streamUrl}"> (${
      Object.keys(active.answer.parameters).length
    } parameters)`,
  );
  log(`twilio  stream started: ${active.callSid} / ${active.streamSid}`);
  void active.done.then(() => (closed = true));
  const deadline = options.maxMs;

  /** Polls: closes played-out segments; true while the call is on and time remains. */
  const tick = async (): Promise<boolean> => {
    await sleep(POLL_MS);
    // Within a fraction of a sample: played and queued are both sums of fractional amounts.
    if (open && active.agentAudioMsPlayed >= queuedMs() - 0.01) {
      open.playedOutAt ??= now();
      if (now() - open.playedOutAt >= MARK_SETTLE_MS) closePlayedOut();
    }
    return !closed && now() < deadline;
  };

  /** Waits until the agent has spoken since `since` and then been quiet for pauseMs. */
  const waitForAgentTurn = async (since: number, what: string): Promise<void> => {
    while (await tick()) {
      const spoke = lastAgentActivity > since;
      if (spoke && !open && now() - lastAgentActivity >= options.pauseMs) return;
      if (!spoke && now() - since >= options.replyTimeoutMs) {
        log(`caller  no ${what} within ${options.replyTimeoutMs} ms; going on`);
        return;
      }
    }
  };

  const measured: TurnMeasurement[] = [];
  await waitForAgentTurn(0, "greeting");
  if (options.dtmf && !closed) {
    for (const digit of options.dtmf) {
      active.sendDtmf(digit);
      await sleep(200);
    }
  }
  for (const [i, turn] of turns.entries()) {
    if (closed || now() >= deadline) break;
    const audioMs = turn.mulaw.length / 8;
    const voicedMs = speechEndMs(turn.mulaw);
    const sentAt = now();
    active.sendAudio(turn.mulaw);
    log(`caller  turn ${i + 1} starts: ${turn.label} (${Math.round(audioMs)} ms of audio)`, sentAt);
    while (active.pendingAudioMs > 0 && await tick());
    // The last frame just went out: the speech ended (audioMs - voicedMs) before that.
    const speechEndAt = now() - (audioMs - voicedMs);
    log(`caller  turn ${i + 1} speech ends`, speechEndAt);
    const m: TurnMeasurement = {
      turn: i + 1,
      label: turn.label,
      sentAtMs: sentAt,
      speechEndAtMs: speechEndAt,
    };
    measured.push(m);
    // Usually the reply starts later (then onMedia measures it); if agent audio arrived
    // already (a reply to the start of the turn), measure from the arrivals.
    const early = mediaArrivals.find((t) => t > speechEndAt);
    if (early !== undefined) {
      m.firstAgentAudioAtMs = early;
      m.latencyMs = Math.round(early - speechEndAt);
      log(`caller  turn ${i + 1} latency: ${m.latencyMs} ms (agent audio already arriving)`);
    } else awaitingReply = m;
    await waitForAgentTurn(speechEndAt, `reply to turn ${i + 1}`);
    awaitingReply = undefined;
  }
  if (!closed && now() >= deadline) log(`caller  --max-seconds reached`);
  log(closed ? "twilio  the server ended the call" : "caller  hangs up");
  const result = await active.hangUp();
  closePlayedOut();
  if (open) closeSegment(false, result.agentAudioMsPlayed);
  log(
    `twilio  stream closed by ${result.closedBy} (${result.closeCode}${
      result.closeReason ? ` ${result.closeReason}` : ""
    }): ${result.framesSent} frames sent, ${result.agentAudioMsReceived} ms of agent audio received`,
  );

  const agentAudio = active.receivedAudio();
  if (options.out) {
    const wav = options.outFormat === "pcm16"
      ? encodeWav(decodeMulaw(agentAudio), { encoding: "pcm16", sampleRate: 8000, channels: 1 })
      : encodeWav(agentAudio, { encoding: "mulaw", sampleRate: 8000, channels: 1 });
    await Deno.mkdir(dirname(resolve(options.out)), { recursive: true });
    await Deno.writeFile(options.out, wav);
    print(
      `agent audio written to ${options.out} (${agentAudio.length / 8} ms, ${options.outFormat})`,
    );
  }

  print(
    `caller-measured turn latency: ${
      measured.length
        ? measured.map((m) =>
          `turn ${m.turn} ${m.latencyMs ?? "no reply"}${m.latencyMs !== undefined ? " ms" : ""}`
        )
          .join(", ")
        : "no caller turns"
    }`,
  );
  const record = await waitForFinalRecord(options, active.callSid, print);
  if (record) { for (const line of formatCallRecord(record)) print(line); }
  return { callSid: active.callSid, caller: result, turns: measured, segments, agentAudio, record };
}

/** The call record once the server has finished it (it is written when the call ends). */
async function waitForFinalRecord(
  options: SimulatorOptions,
  callSid: string,
  print: (line: string) => void,
): Promise<CallRecord | undefined> {
  const deadline = Date.now() + 5000;
  let record: CallRecord | undefined;
  try {
    do {
      record = await fetchCallRecord(options, callSid);
      if (record?.endedAt) return record;
      await sleep(100);
    } while (Date.now() < deadline);
  } catch (error) {
    print(`call record not available: ${errorMessage(error)}`);
    return undefined;
  }
  if (!record) print(`call record not available: the server has no record of ${callSid}`);
  return record;
}

/** `voice-agent call ARGS`: parses, runs one call, prints; returns the exit code. */
export async function runSimulatorCli(args: string[], envFile?: string): Promise<number> {
  let env;
  try {
    env = await environmentWithDotenv(envFile);
  } catch (error) {
    console.error(errorMessage(error));
    return 1;
  }
  const parsed = parseSimulatorArgs(args, env);
  if (parsed.kind === "help") {
    console.log(SIMULATOR_USAGE);
    return 0;
  }
  if (parsed.kind === "error") {
    console.error(`${parsed.message}\n\n${SIMULATOR_USAGE}`);
    return 2;
  }
  try {
    const result = await runSimulation(parsed.options);
    return result.caller.events.some((e) => e.type === "violation") ? 1 : 0;
  } catch (error) {
    console.error(`call failed: ${errorMessage(error)}`);
    return 1;
  }
}
