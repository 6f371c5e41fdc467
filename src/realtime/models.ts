/**
 * Which OpenAI models the service defaults to, and which ones are being shut down, as
 * the official `openai` package (7.55.0, `resources/realtime/realtime.d.ts`) lists them.
 * A call on a model past its shutdown gets only the apology, so a configured deprecated
 * model is warned about loudly at start-up.
 *
 * @module
 */

/** The default Realtime model (the Agents SDK's default; not deprecated). */
export const DEFAULT_REALTIME_MODEL = "gpt-realtime-2.1";

/** The default input transcription model (not deprecated). */
export const DEFAULT_TRANSCRIPTION_MODEL = "gpt-transcribe";

/** Realtime models that are not deprecated (SDK 7.55.0). */
export const CURRENT_REALTIME_MODELS: readonly string[] = [
  "gpt-realtime-1.5",
  "gpt-realtime-2",
  "gpt-realtime-2.1",
  "gpt-realtime-2.1-mini",
];

/** Reasoning effort of the 2.x models (`session.reasoning.effort`). */
export const REASONING_EFFORTS = ["minimal", "low", "medium", "high", "xhigh"] as const;

/** A reasoning effort. */
export type ReasoningEffort = typeof REASONING_EFFORTS[number];

/** A model the SDK lists as deprecated, with its announced shutdown date. */
export interface Deprecation {
  model: string;
  kind: "realtime" | "transcription";
  /** Announced shutdown date, `YYYY-MM-DD`. */
  shutdown: string;
}

const DATED = "(-\\d{4}-\\d{2}-\\d{2})?";

/** Deprecated model families (a family's dated variants share its date). */
const DEPRECATED: readonly { pattern: RegExp; kind: Deprecation["kind"]; shutdown: string }[] = [
  {
    pattern: new RegExp(`^(gpt-realtime|gpt-realtime-mini|gpt-audio-mini)${DATED}$`),
    kind: "realtime",
    shutdown: "2027-01-20",
  },
  {
    pattern: new RegExp(
      `^(whisper-1|gpt-4o-mini-transcribe${DATED}|gpt-4o-transcribe|gpt-4o-transcribe-diarize)$`,
    ),
    kind: "transcription",
    shutdown: "2027-02-26",
  },
];

/**
 * The deprecation of `model`, or undefined when it is not deprecated.
 *
 * @example
 * ```ts
 * import { deprecationOf } from "./models.ts";
 * deprecationOf("gpt-realtime")?.shutdown; // "2027-01-20"
 * deprecationOf("gpt-realtime-2.1"); // undefined
 * ```
 */
export function deprecationOf(model: string): Deprecation | undefined {
  for (const d of DEPRECATED) {
    if (d.pattern.test(model)) return { model, kind: d.kind, shutdown: d.shutdown };
  }
  return undefined;
}
