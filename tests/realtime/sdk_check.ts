/**
 * Type-checks wire events (JSON values captured at run time) against the official `openai`
 * package's Realtime types, with TypeScript's excess-property checks: each event becomes an
 * object literal `satisfies` its SDK type in a generated module, and `deno check` runs on it.
 * An unknown or misspelled field, a wrong literal or a missing required field fails.
 *
 * The `openai` package is a test-only, type-only dependency (import map in deno.json):
 * nothing in src/ or scripts/ imports it.
 *
 * @module
 */

/** The SDK types an event may be checked against (`openai/resources/realtime/realtime`). */
export type SdkType =
  | "RealtimeClientEvent"
  | "RealtimeServerEvent"
  | "ResponseCreateEventWithReferencesParam";

/** One captured event and the SDK type it must satisfy. */
export interface SdkFixture {
  /** What produced it (shown next to any error). */
  label: string;
  sdkType: SdkType;
  event: unknown;
}

/** Result of {@linkcode checkAgainstSdk}. */
export interface SdkCheckResult {
  ok: boolean;
  /** `deno check` output (diagnostics), colours stripped. */
  output: string;
  /** The generated module (for the failure message). */
  source: string;
}

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const STRING_MAX = 120;

/** Long strings (audio, instructions) are shortened: their content is not a type matter. */
function shorten(value: unknown): unknown {
  if (typeof value === "string") {
    return value.length > STRING_MAX ? value.slice(0, STRING_MAX) + "…" : value;
  }
  if (Array.isArray(value)) return value.map(shorten);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shorten(v)]));
  }
  return value;
}

/** The module that checks the fixtures: one `satisfies` per event, labelled. */
export function sdkModule(fixtures: readonly SdkFixture[]): string {
  const types = [...new Set(fixtures.map((f) => f.sdkType))].sort();
  const lines = [
    `import type { ${types.join(", ")} } from "openai/resources/realtime/realtime";`,
    "",
  ];
  fixtures.forEach((f, i) => {
    lines.push(`// ${f.label.replaceAll("\n", " ")}`);
    lines.push(
      `export const e${i} = ${JSON.stringify(shorten(f.event), null, 2)} satisfies ${f.sdkType};`,
    );
  });
  return lines.join("\n") + "\n";
}

/**
 * Writes the fixtures as a module in a temporary directory and runs `deno check` on it
 * with the project's configuration (so `openai` resolves through the import map).
 */
export async function checkAgainstSdk(fixtures: readonly SdkFixture[]): Promise<SdkCheckResult> {
  const dir = await Deno.makeTempDir({ prefix: "sdk_check_" });
  const source = sdkModule(fixtures);
  try {
    const file = `${dir}/events.ts`;
    await Deno.writeTextFile(file, source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", CONFIG, file],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    // deno check prints file paths and ANSI codes; keep the diagnostics readable.
    // deno-lint-ignore no-control-regex
    const output = text.replace(/\x1b\[[0-9;]*m/g, "");
    return { ok: out.success, output, source };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Keys whose values are literal types in the SDK (a different value is a different shape). */
const LITERAL_KEYS = new Set(["type", "role", "status", "object", "reason", "code"]);

/**
 * A structural signature of a JSON value (keys and value kinds, recursively), so captured
 * events can be deduplicated by shape before checking.
 */
export function shapeOf(value: unknown): string {
  if (Array.isArray(value)) return `[${[...new Set(value.map(shapeOf))].sort().join("|")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => a.localeCompare(b));
    return `{${
      entries.map(([k, v]) => `${k}:${LITERAL_KEYS.has(k) ? JSON.stringify(v) : shapeOf(v)}`)
        .join(",")
    }}`;
  }
  return value === null ? "null" : typeof value;
}

/** Keeps the first event of each distinct shape. */
export function distinctShapes<T extends { event: unknown }>(fixtures: readonly T[]): T[] {
  const seen = new Set<string>();
  return fixtures.filter((f) => {
    const s = shapeOf(f.event);
    if (seen.has(s)) return false;
    seen.add(s);
    return true;
  });
}
