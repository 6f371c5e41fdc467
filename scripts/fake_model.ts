/**
 * Runs the strict fake OpenAI Realtime server on its own, so the whole service can be
 * tried locally without an OpenAI key (and without a phone, with `deno task call`).
 *
 *   deno run --allow-net --allow-read --allow-env scripts/fake_model.ts [--port 8787]
 *
 * Then start the service with OPENAI_REALTIME_URL=ws://127.0.0.1:8787/v1/realtime and
 * OPENAI_API_KEY=sk-fake. The fake has no speech recognition: it detects speech by energy
 * and "hears" each caller turn as the next line of a booking script
 * ({@linkcode RECEPTIONIST_CALLER_LINES}: a men's cut tomorrow afternoon; "that works, my name
 * is Sam"; goodbye). It asks `get_slots` for that day; when the business is closed or full
 * then, it offers the next free time from `next_available`, and books what it offered. The
 * audio it "speaks" is a tone; the words are in the call record. Any number of calls can run
 * at once, each following the script from its own start.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type FakeRealtime,
  type FakeRealtimeOptions,
  type FakeSession,
  startFakeRealtime,
} from "./sim/fake_realtime.ts";
import { RECEPTIONIST_CALLER_LINES, receptionistResponder } from "./sim/receptionist.ts";

/** The API key the fake model accepts. */
export const FAKE_MODEL_API_KEY = "sk-fake";

/** Options of {@linkcode startFakeModel}. */
export interface FakeModelOptions {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Today in the business zone (spoken dates take its year); default the machine's date. */
  today?: () => Temporal.PlainDate;
  /**
   * What the caller of `session` says in its `turn` (0-based); default the lines of
   * {@linkcode RECEPTIONIST_CALLER_LINES}, the last one repeated.
   */
  callerLines?: (session: FakeSession) => readonly string[];
}

/** The fake Realtime options of the fake model (without the API key), e.g. for a test harness. */
export function fakeModelOptions(options: FakeModelOptions = {}): FakeRealtimeOptions {
  const lines = options.callerLines ?? (() => RECEPTIONIST_CALLER_LINES);
  return {
    port: options.port ?? 0,
    transcripts: (turn, session) => {
      const script = lines(session);
      return script[Math.min(turn, script.length - 1)];
    },
    responder: receptionistResponder({ today: options.today }),
  };
}

/** Starts the fake model with the receptionist script. */
export function startFakeModel(options: FakeModelOptions = {}): Promise<FakeRealtime> {
  return startFakeRealtime({ apiKey: FAKE_MODEL_API_KEY, ...fakeModelOptions(options) });
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { port: { type: "string", default: "8787" } } });
  const fake = await startFakeModel({ port: Number(values.port) });
  console.log(
    `fake Realtime server at ${fake.url} (API key ${FAKE_MODEL_API_KEY}); Ctrl-C to stop`,
  );
  Deno.addSignalListener("SIGINT", async () => {
    await fake.close();
    Deno.exit(0);
  });
}
