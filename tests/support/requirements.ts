/**
 * Tests that need a tool this machine may lack (PostgreSQL, sox, espeak-ng) say so the
 * same way everywhere, so `.ci/run` can refuse a run that quietly skipped them:
 *
 * - their names end with `[needs TOOL]` (deno lists them as "ignored" when skipped);
 * - a skip, or a fallback that runs less than the test's name promises, prints one line
 *   `SKIPPING what [needs TOOL]: how to get it`.
 *
 * @module
 */

/** The tools whose absence CI treats as a failure (it installs or starts them). */
export type Tool = "postgresql" | "sox" | "espeak-ng";

/** The name suffix of a test that needs `tool`: ` [needs TOOL]`. */
export function needs(tool: Tool): string {
  return ` [needs ${tool}]`;
}

/** True when `command --version` runs and succeeds. */
export async function hasCommand(command: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(command, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Prints the one line that says what is skipped, for want of which tool, and the remedy. */
export function reportSkip(what: string, tool: Tool, remedy: string): void {
  console.warn(`SKIPPING ${what}${needs(tool)}: ${remedy}`);
}
