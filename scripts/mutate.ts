/**
 * `deno task mutate`: mutation testing of the safety-critical modules with the reviewed
 * mutant list in `scripts/mutants.ts`. For each mutant it applies the one-place change in a
 * copy of the repository, runs only the test files that cover the rule it breaks, and
 * records whether they failed (killed), passed (survived) or ran past the time limit
 * (killed by timeout; a test that hangs is a test to fix, so these are listed).
 *
 *   deno task mutate                 # every mutant
 *   deno task mutate --only tools    # mutants whose id starts with "tools"
 *   deno task mutate --check         # only check that every anchor is found exactly once
 *   deno task mutate --timeout 120   # seconds per mutant (default 300)
 *
 * The working tree is never modified: mutants are applied in a temporary copy. A mutant
 * whose anchor is missing or ambiguous is reported and makes the run exit 1, as does a
 * test set that fails before any mutant is applied. Not part of CI (minutes, not seconds).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { type Mutant, MUTANTS } from "./mutants.ts";

type Verdict =
  | "killed"
  | "timeout"
  | "survived"
  | "equivalent"
  | "anchor missing"
  | "anchor ambiguous";

interface Outcome {
  mutant: Mutant;
  verdict: Verdict;
  seconds: number;
  /** First failing line of the test output, for killed mutants. */
  evidence?: string;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function parseArgs(args: string[]) {
  let only: string | undefined;
  let check = false;
  let timeoutS = 300;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--only") only = args[++i];
    else if (args[i] === "--check") check = true;
    else if (args[i] === "--timeout") timeoutS = Number(args[++i]);
    else throw new Error(`unknown argument ${args[i]} (see scripts/mutate.ts)`);
  }
  if (!(timeoutS > 0)) throw new Error("--timeout needs a number of seconds");
  return { only, check, timeoutS };
}

/** Occurrences of `needle` in `text`. */
function count(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) n++;
  return n;
}

/** Copies the repository's files (tracked and new, not ignored) to a temporary directory. */
async function sandbox(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "voice-agent-mutate-" });
  const list = await new Deno.Command("git", {
    args: ["ls-files", "-co", "--exclude-standard", "-z"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  if (!list.success) throw new Error("git ls-files failed: run from a git checkout");
  const files = new TextDecoder().decode(list.stdout).split("\0").filter(Boolean);
  for (const file of files) {
    const from = `${ROOT}${file}`;
    try {
      await Deno.stat(from);
    } catch {
      continue; // deleted in the working tree
    }
    const to = `${dir}/${file}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(from, to);
  }
  try {
    await Deno.symlink(`${ROOT}node_modules`, `${dir}/node_modules`);
  } catch { /* no node_modules yet: deno creates one */ }
  return dir;
}

/** Runs `deno test` on `tests` in `dir`; "pass", "fail" with evidence, or "timeout". */
async function runTests(
  dir: string,
  tests: string[],
  timeoutS: number,
): Promise<{ result: "pass" | "fail" | "timeout"; evidence?: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--no-check", "--config", `${dir}/deno.json`, ...tests],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutS * 1000);
  const [status, out, err] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  clearTimeout(timer);
  if (status.signal === "SIGKILL") return { result: "timeout" };
  if (status.success) return { result: "pass" };
  const text = `${out}\n${err}`;
  const evidence = text.split("\n").find((l) => /^error: \w*(Error|Assertion)/.test(l)) ??
    text.split("\n").find((l) => / \.\.\. FAILED/.test(l));
  return { result: "fail", evidence: evidence?.trim().slice(0, 160) };
}

function percent(n: number, d: number): string {
  return d === 0 ? "n/a" : `${((100 * n) / d).toFixed(0)}%`;
}

async function main(): Promise<number> {
  const { only, check, timeoutS } = parseArgs(Deno.args);
  const mutants = MUTANTS.filter((m) => !only || m.id.startsWith(only) || m.area === only);
  if (mutants.length === 0) {
    console.error(`no mutant matches ${only}`);
    return 1;
  }
  const ids = new Set<string>();
  for (const m of MUTANTS) {
    if (ids.has(m.id)) throw new Error(`duplicate mutant id ${m.id}`);
    ids.add(m.id);
  }

  // Anchors first: every one must be found exactly once, or the list needs review.
  const outcomes: Outcome[] = [];
  const runnable: Mutant[] = [];
  for (const m of mutants) {
    const n = count(await Deno.readTextFile(`${ROOT}${m.file}`), m.find);
    if (n === 1) runnable.push(m);
    else {
      outcomes.push({
        mutant: m,
        verdict: n === 0 ? "anchor missing" : "anchor ambiguous",
        seconds: 0,
      });
      console.log(`${m.id}: ANCHOR ${n === 0 ? "MISSING" : `FOUND ${n} TIMES`} in ${m.file}`);
    }
  }
  if (check) {
    console.log(`${runnable.length} of ${mutants.length} anchors found exactly once`);
    return outcomes.length > 0 ? 1 : 0;
  }

  const dir = await sandbox();
  let baselineFailed = false;
  try {
    // Each test set must pass unmutated, or its verdicts would mean nothing.
    const sets = [...new Set(runnable.map((m) => JSON.stringify(m.tests)))];
    for (const set of sets) {
      const tests = JSON.parse(set) as string[];
      const started = performance.now();
      const base = await runTests(dir, tests, timeoutS);
      const s = ((performance.now() - started) / 1000).toFixed(0);
      console.log(`baseline ${tests.join(" ")}: ${base.result} (${s} s)`);
      if (base.result !== "pass") {
        baselineFailed = true;
        console.log(`  ${base.evidence ?? ""}`);
      }
    }
    if (baselineFailed) {
      console.log("a test set fails without any mutant: fix that first");
      return 1;
    }

    for (const m of runnable) {
      const path = `${dir}/${m.file}`;
      const original = await Deno.readTextFile(path);
      await Deno.writeTextFile(path, original.replace(m.find, () => m.replace));
      const started = performance.now();
      let run;
      try {
        run = await runTests(dir, m.tests, timeoutS);
      } finally {
        await Deno.writeTextFile(path, original);
      }
      const seconds = (performance.now() - started) / 1000;
      const verdict: Verdict = run.result === "fail"
        ? "killed"
        : run.result === "timeout"
        ? "timeout"
        : m.equivalent
        ? "equivalent"
        : "survived";
      outcomes.push({ mutant: m, verdict, seconds, evidence: run.evidence });
      console.log(
        `${verdict.toUpperCase().padEnd(8)} ${m.id} (${seconds.toFixed(0)} s)` +
          (run.evidence
            ? `  ${run.evidence}`
            : verdict === "survived"
            ? `  breaks: ${m.breaks}`
            : ""),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  // Report: per area and overall (killed + timeout over judged mutants).
  console.log("\n| area | mutants | killed | timeout | survived | equivalent | kill rate |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  const areas = [...new Set(outcomes.map((o) => o.mutant.area))];
  const row = (name: string, os: Outcome[]) => {
    const judged = os.filter((o) => ["killed", "timeout", "survived"].includes(o.verdict));
    const k = os.filter((o) => o.verdict === "killed").length;
    const t = os.filter((o) => o.verdict === "timeout").length;
    const s = os.filter((o) => o.verdict === "survived").length;
    const e = os.filter((o) => o.verdict === "equivalent").length;
    const rate = percent(k + t, judged.length);
    console.log(`| ${name} | ${judged.length + e} | ${k} | ${t} | ${s} | ${e} | ${rate} |`);
  };
  for (const area of areas) row(area, outcomes.filter((o) => o.mutant.area === area));
  row("**all**", outcomes);
  const survivors = outcomes.filter((o) => o.verdict === "survived");
  if (survivors.length > 0) {
    console.log("\nSurvivors (each needs a test or an explanation):");
    for (const o of survivors) {
      console.log(`- ${o.mutant.id}: ${o.mutant.breaks} (${o.mutant.file})`);
    }
  }
  const equivalents = outcomes.filter((o) => o.verdict === "equivalent");
  if (equivalents.length > 0) {
    console.log("\nEquivalent (survive by design, not counted):");
    for (const o of equivalents) console.log(`- ${o.mutant.id}: ${o.mutant.equivalent}`);
  }
  const timeouts = outcomes.filter((o) => o.verdict === "timeout");
  if (timeouts.length > 0) {
    console.log("\nKilled only by the time limit (a test hung instead of failing):");
    for (const o of timeouts) console.log(`- ${o.mutant.id}: ${o.mutant.tests.join(" ")}`);
  }
  return outcomes.some((o) => o.verdict.startsWith("anchor")) ? 1 : 0;
}

Deno.exit(await main());
