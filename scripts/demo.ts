/**
 * `deno task demo`: the product working end to end in one command, with no credentials,
 * on any day of the year.
 *
 * It starts the real service on a free loopback port with a temporary SQLite database,
 * the fake model (scripts/fake_model.ts: the strict fake Realtime server with a receptionist
 * script) and the call simulator speaking real speech (espeak-ng, else the bundled WAV
 * fixtures). Then:
 *
 * 1. Sam calls and asks for a men's cut tomorrow afternoon. The model asks `get_slots`; when
 *    the salon is closed tomorrow (a Sunday, a Monday, a holiday) it offers the next free time
 *    from `next_available`, and books it when Sam says it works.
 * 2. The booking is printed as the database holds it.
 * 3. Alex calls and asks for that same slot. The demo salon takes one appointment at a time,
 *    so the slot is full: the store answers with alternatives, and Alex takes the first.
 *
 * The conversation is printed as it happens: who speaks, the tools the model calls and what
 * they return, the latencies. The agent's audio of each call goes to a WAV file and the
 * service's JSON log to `service.log`, under `demo-output/` (ignored by git). Everything
 * started is stopped at the end, unless `--keep` is given: then the service keeps running
 * for `deno task call` until Ctrl-C.
 *
 * This is a developer tool run from the source tree (it needs the test fakes and espeak-ng),
 * so it is not part of the compiled binary.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { startApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { resetLogging, setupLogging } from "../src/log.ts";
import { DEFAULT_BUSINESS_FILE } from "../src/booking/business.ts";
import { todayInZone } from "../src/booking/availability.ts";
import type { Booking } from "../src/booking/types.ts";
import { runSimulation, type SimulationResult } from "../src/sim/cli.ts";
import { speakToMulaw8k, SpeechSynthesisError } from "../src/sim/audio_input.ts";
import type { FakeItem, ResponseContext, ScriptedResponse } from "./sim/fake_realtime.ts";
import { callerNumberOf, receptionistResponder } from "./sim/receptionist.ts";
import { FAKE_MODEL_API_KEY, startFakeModel } from "./fake_model.ts";
import { errorMessage } from "../src/errors.ts";

/** Where the demo writes the agent's audio and the service log (listed in .gitignore). */
export const DEMO_OUTPUT_DIR = "demo-output";

/** The two demo callers. */
export const DEMO_CALLERS = {
  sam: { name: "Sam", number: "+15550100001" },
  alex: { name: "Alex", number: "+15550100002" },
} as const;

/** Options of {@linkcode runDemo}. */
export interface DemoOptions {
  /** The current instant (the tests date the demo on weekends and holidays). */
  now?: () => Temporal.Instant;
  /** Where the WAV files and the service log go; default {@linkcode DEMO_OUTPUT_DIR}. */
  outDir?: string;
  /** Caller speech: espeak-ng when installed (default), or the bundled WAV fixtures. */
  speech?: "auto" | "fixtures";
  /** Leave the service running (until `stopped` resolves, or Ctrl-C from the command line). */
  keep?: boolean;
  /** Output; default `console.log`. */
  print?: (line: string) => void;
}

/** What the demo did. */
export interface DemoResult {
  /** The two simulated calls. */
  calls: SimulationResult[];
  /** Sam's and Alex's bookings as stored. */
  bookings: { sam: Booking[]; alex: Booking[] };
  /** How the callers spoke. */
  speech: "espeak-ng" | "fixtures";
  /** The files written. */
  files: { agentAudio: string[]; serviceLog: string };
  /** The service's address. */
  baseUrl: string;
  /** Stops what `keep` left running (resolves at once otherwise). */
  stop(): Promise<void>;
}

const FIXTURES = new URL("../tests/fixtures/", import.meta.url);

/** A caller turn: what is said and its audio (8 kHz mu-law). */
interface Line {
  text: string;
  mulaw: Uint8Array;
}

/** Speaks a line with espeak-ng, or takes the bundled fixture recorded with the same words. */
async function speak(text: string, mode: "espeak-ng" | "fixtures", fixture: string): Promise<Line> {
  if (mode === "espeak-ng") return { text, mulaw: await speakToMulaw8k(text) };
  const mulaw = await Deno.readFile(new URL(`${fixture}_8k_mulaw.raw`, FIXTURES));
  return { text: FIXTURE_TEXT[fixture], mulaw };
}

/** The words of the bundled fixtures (scripts/make_fixtures.sh). */
const FIXTURE_TEXT: Record<string, string> = {
  caller_book_haircut: "Hi, I'd like to book a haircut tomorrow afternoon.",
  caller_two_thirty: "Two thirty works. My name is Sam Rivera.",
};

/** Whether espeak-ng can be run here (missing program or permission: no). */
async function espeakWorks(): Promise<boolean> {
  try {
    await speakToMulaw8k("test");
    return true;
  } catch (error) {
    if (error instanceof SpeechSynthesisError) return false;
    throw error;
  }
}

/** A one-line summary of a tool result, for the printed conversation. */
function summarizeResult(name: string, out: Record<string, unknown>): string {
  const labels = (list: unknown) =>
    Array.isArray(list) ? list.map((s) => (s as { label: string }).label) : [];
  const error = out.error as { code?: string; message?: string } | undefined;
  if (error) return `error ${error.code}: ${error.message}`;
  if (name === "get_slots") {
    const slots = labels(out.slots);
    const head = out.closed
      ? `closed on ${out.date_label} (${out.closed_reason})`
      : `${slots.length} free on ${out.date_label}`;
    const next = labels(out.next_available);
    return `${head}${slots.length ? `: ${slots.slice(0, 3).join("; ")}` : ""}` +
      (next.length ? `; next available: ${next.join("; ")}` : "");
  }
  if (name === "book_slot") {
    if (out.status === "confirmed") {
      return `confirmed ${out.booking_id}: ${out.service}, ${out.label}, ${out.customer_name}`;
    }
    return `${out.status} (${out.reason}: ${out.message}); alternatives: ${
      labels(out.alternatives).join("; ")
    }`;
  }
  return JSON.stringify(out);
}

/** The service log lines worth showing next to the conversation. */
const SHOWN_LOG = /^(tool |barge-in|agent turn: first audio|call ended)/;

/** Runs the demo; see the module documentation. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const print = options.print ?? console.log;
  const outDir = options.outDir ?? DEMO_OUTPUT_DIR;
  await Deno.mkdir(outDir, { recursive: true });
  const tmp = await Deno.makeTempDir({ prefix: "voice-agent-demo-" });
  const cleanups: (() => Promise<unknown> | unknown)[] = [
    () => Deno.remove(tmp, { recursive: true }),
  ];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch { /* best effort: keep stopping the rest */ }
    }
  };
  try {
    return await demo();
  } catch (error) {
    await cleanup();
    throw error;
  }

  async function demo(): Promise<DemoResult> {
    // The example salon, taking one appointment at a time so the second call meets a full slot.
    const profile = JSON.parse(await Deno.readTextFile(DEFAULT_BUSINESS_FILE));
    const businessFile = join(tmp, "business.json");
    await Deno.writeTextFile(businessFile, JSON.stringify({ ...profile, capacity: 1 }));
    const now = options.now ?? (() => Temporal.Now.instant());
    const today = () => todayInZone(profile, now());

    const mode = options.speech !== "fixtures" && await espeakWorks() ? "espeak-ng" : "fixtures";
    const samLines = mode === "espeak-ng"
      ? [
        await speak("Hi, I'd like to book a men's cut tomorrow afternoon.", mode, ""),
        await speak("That works, my name is Sam.", mode, ""),
      ]
      : [
        await speak("", mode, "caller_book_haircut"),
        await speak("", mode, "caller_two_thirty"),
      ];
    // What the fake model "hears" from each caller (it has no speech recognition).
    const heard = new Map<string, readonly string[]>();
    heard.set(DEMO_CALLERS.sam.number, samLines.map((l) => l.text));

    // Printing: every line stamped from the start of the current call.
    let t0 = performance.now();
    const stamp = () => `${((performance.now() - t0) / 1000).toFixed(3).padStart(8)}s`;
    const say = (line: string) => print(`${stamp()}  ${line}`);

    const fake = await startFakeModel({
      today,
      callerLines: (session) =>
        heard.get(callerNumberOf(session) ?? "") ?? samLines.map((l) => l.text),
    });
    cleanups.push(() => fake.close());
    const script = receptionistResponder({ today });
    fake.setResponder((ctx: ResponseContext): ScriptedResponse => {
      const last = ctx.lastItem;
      if (last?.type === "function_call_output" && last.output) {
        const name = callName(ctx.items, last.callId);
        say(`tool    ${name} -> ${summarizeResult(name, JSON.parse(last.output))}`);
      }
      const plan = script(ctx);
      if ("functionCalls" in plan) {
        for (const c of plan.functionCalls) say(`model   calls ${c.name}(${c.arguments})`);
      } else say(`agent   says: "${plan.transcript}"`);
      return plan;
    });

    const logFile = join(outDir, "service.log");
    const log = await Deno.open(logFile, { create: true, write: true, truncate: true });
    cleanups.push(() => log.close());
    const encoder = new TextEncoder();
    await setupLogging({
      level: "info",
      format: "json",
      write: (line) => {
        log.writeSync(encoder.encode(line + "\n"));
        const message = (JSON.parse(line) as { message?: string }).message ?? "";
        if (SHOWN_LOG.test(message)) say(`service ${message}`);
      },
    });
    cleanups.push(() => resetLogging());

    const authToken = crypto.randomUUID();
    const port = freeLoopbackPort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const config = loadConfig({
      PUBLIC_URL: publicUrl,
      HOST: "127.0.0.1",
      PORT: String(port),
      OPENAI_API_KEY: FAKE_MODEL_API_KEY,
      OPENAI_REALTIME_URL: fake.url,
      TWILIO_AUTH_TOKEN: authToken,
      DATABASE_URL: `sqlite:${join(tmp, "agent.db")}`,
      BUSINESS_FILE: businessFile,
      DRAIN_SECONDS: "2",
    });
    const app = await startApp(config, { clock: now, goodbyeSeconds: 2 });
    cleanups.push(() => app.stop());

    const day = today();
    print(
      `voice-agent demo: the real service, a fake model (no OpenAI key) and a simulated caller`,
    );
    print(
      `  today is ${day.toLocaleString("en-US", { weekday: "long", calendar: "iso8601" })} ` +
        `${day} in ${profile.timeZone}; ${profile.name} takes one appointment at a time`,
    );
    print(`  service ${app.baseUrl}, fake model ${fake.url}, caller speech: ${mode}`);
    print(`  service log (JSON lines): ${logFile}`);

    const placeCall = async (who: keyof typeof DEMO_CALLERS, lines: Line[], n: number) => {
      const caller = DEMO_CALLERS[who];
      const out = join(outDir, `call${n}-${who}-agent.wav`);
      print("");
      print(`call ${n}: ${caller.name} (${caller.number}) calls`);
      t0 = performance.now();
      const result = await runSimulation({
        serverUrl: app.baseUrl,
        publicUrl,
        authToken,
        from: caller.number,
        turns: lines.map((l) => ({ kind: "audio", label: `"${l.text}"`, mulaw: l.mulaw })),
        out,
        outFormat: "pcm16",
        pauseMs: 500,
        replyTimeoutMs: 10_000,
        maxMs: 90_000,
      }, print);
      return { result, out };
    };

    const first = await placeCall("sam", samLines, 1);
    const sam = await app.store.findByPhone(DEMO_CALLERS.sam.number);
    print("");
    print("booking as stored in the database:");
    for (const b of sam) print(`  ${JSON.stringify(b)}`);
    if (sam.length === 0) throw new Error("the first call booked nothing (see the log above)");

    // Alex asks for exactly Sam's slot (with espeak-ng; the fixtures can only ask like Sam).
    const alexLines = mode === "espeak-ng"
      ? [
        await speak(
          `Hi, this is Alex, can I have a men's cut on ${sam[0].label}?`,
          mode,
          "",
        ),
        await speak("Yes, that works.", mode, ""),
      ]
      : samLines;
    heard.set(DEMO_CALLERS.alex.number, alexLines.map((l) => l.text));
    const second = await placeCall("alex", alexLines, 2);
    const alex = await app.store.findByPhone(DEMO_CALLERS.alex.number);
    print("");
    print(`${sam[0].label} holds ${capacityNote(sam[0], alex)}`);
    print("bookings as stored in the database:");
    for (const b of [...sam, ...alex]) {
      print(`  ${b.id}  ${b.label}  ${b.serviceName}  ${b.customerName}  ${b.customerPhone}`);
    }
    const agentAudio = [first.out, second.out];
    print("");
    print(`agent audio: ${agentAudio.join(", ")}`);

    const result: DemoResult = {
      calls: [first.result, second.result],
      bookings: { sam, alex },
      speech: mode,
      files: { agentAudio, serviceLog: logFile },
      baseUrl: app.baseUrl,
      stop: cleanup,
    };
    if (options.keep) {
      print("");
      print(`the service keeps running at ${app.baseUrl}; place more calls with:`);
      print(
        `  TWILIO_AUTH_TOKEN=${authToken} deno task call --server ${app.baseUrl} ` +
          `--public-url ${publicUrl} --say "Hi, I'd like to book a men's cut tomorrow afternoon." ` +
          `--say "That works, my name is Sam."`,
      );
      const consoleUrl = `${app.baseUrl}/console`;
      const res = await fetch(consoleUrl).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.ok) print(`operator console: ${consoleUrl}`);
      return result;
    }
    await cleanup();
    print("everything the demo started is stopped.");
    return result;
  }
}

/** How full Sam's slot is after Alex's call, in words. */
function capacityNote(samBooking: Booking, alex: Booking[]): string {
  const same = alex.filter((b) => b.start === samBooking.start);
  if (same.length > 0) return `${1 + same.length} bookings (more than one place)`;
  const elsewhere = alex.map((b) => b.label).join(", ");
  return `one booking, its whole capacity: Alex was offered alternatives` +
    (elsewhere ? ` and booked ${elsewhere}` : "");
}

/** The tool name of a function call in a conversation. */
function callName(items: readonly FakeItem[], callId: string | undefined): string {
  return items.find((i) => i.type === "function_call" && i.callId === callId)?.name ?? "?";
}

/** A free TCP port on 127.0.0.1 (the service binds it right after). */
function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** `deno task demo [--keep]`. */
async function main(args: string[]): Promise<number> {
  const usage = "usage: deno task demo [--keep] [--out-dir DIR] [--now ISO-INSTANT]";
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        keep: { type: "boolean" },
        "out-dir": { type: "string" },
        now: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`${errorMessage(error)}\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(
      `${usage}\n  --keep          leave the service running for more calls (Ctrl-C stops it)\n` +
        `  --out-dir DIR   where the WAV files and the log go (default ${DEMO_OUTPUT_DIR})\n` +
        "  --now INSTANT   pretend it is this instant, e.g. 2026-11-28T15:00:00-05:00",
    );
    return 0;
  }
  let now: (() => Temporal.Instant) | undefined;
  if (values.now) {
    try {
      const fixed = Temporal.Instant.from(values.now);
      const offset = fixed.epochMilliseconds - Date.now();
      // The clock runs from the given instant, so minimum notice and "today" behave.
      now = () => Temporal.Instant.fromEpochMilliseconds(Date.now() + offset);
    } catch {
      console.error(`--now must be an ISO instant with an offset, e.g. 2026-11-28T15:00:00-05:00`);
      return 2;
    }
  }
  try {
    const result = await runDemo({ keep: values.keep, outDir: values["out-dir"], now });
    if (values.keep) {
      await new Promise<void>((resolve) => {
        const stop = () => {
          Deno.removeSignalListener("SIGINT", stop);
          Deno.removeSignalListener("SIGTERM", stop);
          resolve();
        };
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGTERM", stop);
      });
      await result.stop();
    }
    return 0;
  } catch (error) {
    console.error(`demo failed: ${errorMessage(error)}`);
    return 1;
  }
}

// No Deno.exit on success: the process ends by itself only if everything started was stopped.
if (import.meta.main) Deno.exitCode = await main(Deno.args);
