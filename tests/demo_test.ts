/**
 * `deno task demo` works on any day of the year: run as the task (its exact command line and
 * permissions) dated on a Saturday, a Sunday and a holiday of the example salon, and in
 * process with the bundled WAV fixtures and `--keep`. Each run books Sam on the next open
 * day, stores it, turns Alex away from the full slot with alternatives, writes the agent's
 * audio and the service log under the output folder, and stops everything it started.
 */
import assert from "node:assert/strict";
import { DEMO_CALLERS, DEMO_OUTPUT_DIR, type DemoResult, runDemo } from "../scripts/demo.ts";
import { DEFAULT_BUSINESS_FILE, loadBusinessProfile } from "../src/booking/business.ts";
import { isOpenOn } from "../src/booking/availability.ts";
import type { Booking } from "../src/booking/types.ts";
import { decodeWav } from "../src/codec/wav.ts";
import { DENO_BASE_ENV, DENO_CONFIG } from "./support/process.ts";

const profile = loadBusinessProfile(DEFAULT_BUSINESS_FILE);

/** The dates the demo is run on, and the day Sam's booking must land on. */
const DATES = [
  { what: "a Saturday", now: "2026-11-28T15:00:00-05:00", booked: "2026-12-01" },
  { what: "a Sunday", now: "2026-11-29T10:00:00-05:00", booked: "2026-12-01" },
  {
    what: "Christmas Eve, a holiday before the Christmas Day holiday",
    now: "2026-12-24T11:00:00-05:00",
    booked: "2026-12-26",
  },
];

async function hasEspeak(): Promise<boolean> {
  try {
    return (await new Deno.Command("espeak-ng", { args: ["--version"] }).output()).success;
  } catch {
    return false;
  }
}

interface TaskRun {
  what: string;
  booked: string;
  code: number;
  stdout: string;
  stderr: string;
  outDir: string;
}

/** `deno task demo --now NOW --out-dir DIR`; must exit by itself (nothing left running). */
async function runTask(date: typeof DATES[number]): Promise<TaskRun> {
  const outDir = await Deno.makeTempDir({ prefix: "voice-agent-demo-test-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "--config", DENO_CONFIG, "demo", "--now", date.now, "--out-dir", outDir],
    env: { ...DENO_BASE_ENV, NO_COLOR: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    // A demo that does not end by itself (something left running) is killed and fails.
    signal: AbortSignal.timeout(300_000),
  }).output();
  const dec = new TextDecoder();
  return {
    ...date,
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    outDir,
  };
}

/** The stored booking the demo prints after the first call. */
function storedBooking(stdout: string): Booking {
  const lines = stdout.split("\n");
  const at = lines.indexOf("booking as stored in the database:");
  assert.ok(at >= 0, stdout);
  return JSON.parse(lines[at + 1].trim()) as Booking;
}

async function checkFiles(outDir: string, what: string): Promise<void> {
  for (const who of ["1-sam", "2-alex"]) {
    const wav = decodeWav(await Deno.readFile(`${outDir}/call${who}-agent.wav`));
    assert.deepEqual([wav.encoding, wav.sampleRate, wav.channels], ["pcm16", 8000, 1], what);
    assert.ok(wav.data.length > 8000 * 2, `${what}: call${who} audio is more than a second`);
  }
  const log = (await Deno.readTextFile(`${outDir}/service.log`)).trim().split("\n");
  const records = log.map((l) => JSON.parse(l) as { message: string; callSid?: string });
  const ended = records.filter((r) => r.message === "call ended: booked");
  assert.equal(ended.length, 2, `${what}: two booked calls in the service log`);
  assert.ok(ended.every((r) => r.callSid?.startsWith("CA")), what);
}

function checkTaskRun(run: TaskRun, espeak: boolean): void {
  const what = `demo on ${run.what}`;
  assert.equal(run.code, 0, `${what}:\n${run.stdout}\n${run.stderr}`);
  assert.equal(run.stderr.trim(), "", what);
  assert.match(run.stdout, new RegExp(`caller speech: ${espeak ? "espeak-ng" : "fixtures"}`));
  // Tomorrow is closed on each of these dates: the script took next_available.
  assert.match(run.stdout, /tool {4}get_slots -> closed on .*; next available: /, what);
  const sam = storedBooking(run.stdout);
  assert.equal(sam.customerName, "Sam", what);
  assert.equal(sam.status, "confirmed");
  assert.equal(sam.customerPhone, DEMO_CALLERS.sam.number);
  assert.ok(sam.start.startsWith(run.booked), `${what}: booked ${sam.start}`);
  assert.ok(isOpenOn(profile, Temporal.PlainDate.from(sam.start.slice(0, 10))), what);
  if (espeak) {
    // Alex asked for Sam's slot by name: full, alternatives offered, the first one booked.
    assert.ok(run.stdout.includes(`can I have a men's cut on ${sam.label}?`), what);
    assert.match(run.stdout, /tool {4}book_slot -> unavailable \(full: .*\); alternatives: /);
    assert.match(
      run.stdout,
      /holds one booking, its whole capacity: Alex was offered alternatives/,
    );
  }
  const alexRow = run.stdout.split("\n").find((l) => l.includes(DEMO_CALLERS.alex.number));
  assert.ok(alexRow, `${what}: Alex's booking is listed`);
  assert.ok(!alexRow.includes(sam.label), `${what}: Alex is not in Sam's full slot`);
  assert.match(run.stdout, /everything the demo started is stopped\.$/m);
}

function checkInProcess(result: DemoResult, printed: string): void {
  assert.equal(result.speech, "fixtures");
  assert.equal(result.bookings.sam.length, 1, printed);
  assert.equal(result.bookings.alex.length, 1, printed);
  const [sam] = result.bookings.sam;
  const [alex] = result.bookings.alex;
  assert.ok(sam.start.startsWith("2026-12-01"), sam.start);
  assert.notEqual(alex.start, sam.start, "capacity 1: Alex gets another time");
  assert.equal(result.calls.length, 2);
  for (const call of result.calls) {
    assert.equal(call.record?.outcome, "booked");
    assert.ok(call.turns.every((t) => t.latencyMs !== undefined), "every turn answered");
  }
}

Deno.test("demo: `deno task demo` books on a Saturday, a Sunday and a holiday; in process with fixtures and --keep", async () => {
  const espeak = await hasEspeak();
  if (!espeak) console.warn("demo_test: espeak-ng not found; the demo speaks the WAV fixtures");
  const outDir = await Deno.makeTempDir({ prefix: "voice-agent-demo-keep-" });
  const printed: string[] = [];
  const sunday = Temporal.Instant.from("2026-11-29T10:00:00-05:00");
  const started = Date.now();
  const [runs, kept] = await Promise.all([
    Promise.all(DATES.map(runTask)),
    runDemo({
      now: () => sunday.add({ milliseconds: Date.now() - started }),
      outDir,
      speech: "fixtures",
      keep: true,
      print: (l) => printed.push(l),
    }),
  ]);
  try {
    for (const run of runs) {
      checkTaskRun(run, espeak);
      await checkFiles(run.outDir, run.what);
    }
    checkInProcess(kept, printed.join("\n"));
    await checkFiles(outDir, "in process");
    // --keep: the service still answers until it is stopped.
    const health = await fetch(`${kept.baseUrl}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    assert.match(printed.join("\n"), /the service keeps running at http:\/\/127\.0\.0\.1:\d+/);
  } finally {
    await kept.stop();
    for (const run of runs) await Deno.remove(run.outDir, { recursive: true });
    await Deno.remove(outDir, { recursive: true });
  }
  await assert.rejects(() => fetch(`${kept.baseUrl}/healthz`), "stopped means stopped");
});

Deno.test("demo: its output folder is ignored by git, and the README writes audio there", async () => {
  const gitignore = await Deno.readTextFile(new URL("../.gitignore", import.meta.url));
  assert.ok(
    gitignore.split("\n").some((l) => l.trim() === `${DEMO_OUTPUT_DIR}/`),
    `.gitignore lists ${DEMO_OUTPUT_DIR}/`,
  );
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const outs = [...readme.matchAll(/--out\s+(\S+)/g)].map((m) => m[1]);
  assert.ok(outs.length > 0, "the README shows --out");
  for (const out of outs) assert.ok(out.startsWith(`${DEMO_OUTPUT_DIR}/`), out);
  // "Try it" leads with the one-command demo.
  const tryIt = readme.slice(readme.indexOf("## Try it"));
  assert.match(tryIt.split("```")[1] ?? "", /^sh\nnpx -y deno@2\.9\.6 task demo\b/);
});
