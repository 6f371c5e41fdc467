/**
 * Runs the strict fake OpenAI Realtime server on its own, so the whole service can be
 * tried locally without an OpenAI key (and without a phone, with `deno task call`).
 *
 *   deno run --allow-net --allow-read scripts/fake_model.ts [--port 8787]
 *
 * Then start the service with OPENAI_REALTIME_URL=ws://127.0.0.1:8787/v1/realtime and
 * OPENAI_API_KEY=sk-fake. The fake has no speech recognition: it detects speech by energy,
 * pretends each caller turn asked for tomorrow's free slots, reads the first one back
 * (the audio it "speaks" is a tone; the transcript is in the call record), and books it
 * on the next turn.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startFakeRealtime } from "../tests/support/fake_realtime.ts";
import type { Responder } from "../tests/support/fake_realtime.ts";
import { bookingResponder } from "../tests/support/scripts.ts";

const { values } = parseArgs({ options: { port: { type: "string", default: "8787" } } });
const tomorrow = Temporal.Now.plainDateISO().add({ days: 1 }).toString();
const booking = bookingResponder(tomorrow);
/** The booking script, plus answers to the service's own prompts (idle, wrap-up). */
const demo: Responder = (ctx) => {
  const text = ctx.lastItem?.role === "system" ? ctx.lastItem.text ?? "" : "";
  if (/silent/.test(text)) return { audioMs: 900, transcript: "Are you still there?" };
  if (/goodbye/.test(text)) return { audioMs: 900, transcript: "Thanks for calling, goodbye." };
  return booking(ctx);
};
const fake = await startFakeRealtime({
  apiKey: "sk-fake",
  port: Number(values.port),
  transcripts: (turn) =>
    turn === 0 ? "I'd like to book a men's cut tomorrow." : "That works, my name is Sam.",
  responder: demo,
});
console.log(`fake Realtime server at ${fake.url} (API key sk-fake); Ctrl-C to stop`);
Deno.addSignalListener("SIGINT", async () => {
  await fake.close();
  Deno.exit(0);
});
