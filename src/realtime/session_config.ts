/**
 * Builds the GA `session.update` session object: audio formats, voice, instructions, tools,
 * turn detection, input transcription and noise reduction.
 *
 * @example
 * ```ts
 * import { sessionUpdate } from "./protocol.ts";
 * declare const ws: WebSocket;
 * const session = buildSessionConfig({
 *   model: "gpt-realtime-2.1", voice: "marin", audioFormat: "pcmu", instructions: "…", tools: [],
 *   vad: { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
 * });
 * ws.send(sessionUpdate(session));
 * ```
 *
 * @module
 */
import { DEFAULT_TRANSCRIPTION_MODEL, type ReasoningEffort } from "./models.ts";

/** Audio carried on both legs: G.711 mu-law 8 kHz (Twilio's) or PCM16 24 kHz. */
export type AudioFormat = "pcmu" | "pcm16";

/** A function tool as the Realtime API expects it (parameters are JSON Schema). */
export interface ToolDefinition {
  type: "function";
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

/** Turn detection choice. */
export type VadOptions =
  | { type: "server_vad"; threshold: number; prefixPaddingMs: number; silenceDurationMs: number }
  | { type: "semantic_vad"; eagerness: "low" | "medium" | "high" | "auto" };

/** Options for {@linkcode buildSessionConfig}. */
export interface SessionConfigOptions {
  model: string;
  voice: string;
  audioFormat: AudioFormat;
  instructions: string;
  tools: ToolDefinition[];
  vad: VadOptions;
  /** Input transcription model; default {@linkcode DEFAULT_TRANSCRIPTION_MODEL}. */
  transcriptionModel?: string;
  /** Reasoning effort of the 2.x models; sent only when set. */
  reasoningEffort?: ReasoningEffort;
}

/** Wire format object of an audio format. */
export type AudioFormatWire = { type: "audio/pcmu" } | { type: "audio/pcm"; rate: 24000 };

/** Wire format of turn detection. */
export type TurnDetectionWire =
  | {
    type: "server_vad";
    threshold: number;
    prefix_padding_ms: number;
    silence_duration_ms: number;
    create_response: boolean;
    interrupt_response: boolean;
  }
  | {
    type: "semantic_vad";
    eagerness: "low" | "medium" | "high" | "auto";
    create_response: boolean;
    interrupt_response: boolean;
  };

/** The GA realtime session object sent in `session.update`. */
export interface SessionConfig {
  type: "realtime";
  model: string;
  output_modalities: ["audio"];
  instructions: string;
  audio: {
    input: {
      format: AudioFormatWire;
      transcription: { model: string };
      noise_reduction: { type: "near_field" };
      turn_detection: TurnDetectionWire;
    };
    output: { format: AudioFormatWire; voice: string };
  };
  tools: ToolDefinition[];
  tool_choice: "auto";
  reasoning?: { effort: ReasoningEffort };
}

export { DEFAULT_TRANSCRIPTION_MODEL };

/** The wire object for an {@linkcode AudioFormat}. */
export function audioFormatWire(format: AudioFormat): AudioFormatWire {
  return format === "pcmu" ? { type: "audio/pcmu" } : { type: "audio/pcm", rate: 24000 };
}

/** Bytes of audio per millisecond in a format (8 for mu-law 8 kHz, 48 for PCM16 24 kHz). */
export function bytesPerMs(format: AudioFormat): number {
  return format === "pcmu" ? 8 : 48;
}

/** The {@linkcode AudioFormat} a session config uses for input audio. */
export function inputFormatOf(config: SessionConfig): AudioFormat {
  return config.audio.input.format.type === "audio/pcmu" ? "pcmu" : "pcm16";
}

/** The {@linkcode AudioFormat} a session config uses for output audio. */
export function outputFormatOf(config: SessionConfig): AudioFormat {
  return config.audio.output.format.type === "audio/pcmu" ? "pcmu" : "pcm16";
}

/** Decoded size of a base64 string, without decoding it. */
export function base64Bytes(b64: string): number {
  const n = b64.length;
  if (n === 0) return 0;
  const pad = b64.charCodeAt(n - 1) === 61 ? (b64.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  return (n * 3) / 4 - pad;
}

/** Builds the GA session object. Both VAD kinds create responses and allow barge-in. */
export function buildSessionConfig(opts: SessionConfigOptions): SessionConfig {
  if (!(opts.vad.type === "semantic_vad" || (opts.vad.threshold >= 0 && opts.vad.threshold <= 1))) {
    throw new RangeError(`VAD threshold must be within 0..1`);
  }
  const format = audioFormatWire(opts.audioFormat);
  const turnDetection: TurnDetectionWire = opts.vad.type === "server_vad"
    ? {
      type: "server_vad",
      threshold: opts.vad.threshold,
      prefix_padding_ms: Math.round(opts.vad.prefixPaddingMs),
      silence_duration_ms: Math.round(opts.vad.silenceDurationMs),
      create_response: true,
      interrupt_response: true,
    }
    : {
      type: "semantic_vad",
      eagerness: opts.vad.eagerness,
      create_response: true,
      interrupt_response: true,
    };
  return {
    type: "realtime",
    model: opts.model,
    output_modalities: ["audio"],
    instructions: opts.instructions,
    audio: {
      input: {
        format,
        transcription: { model: opts.transcriptionModel ?? DEFAULT_TRANSCRIPTION_MODEL },
        noise_reduction: { type: "near_field" },
        turn_detection: turnDetection,
      },
      output: { format: { ...format }, voice: opts.voice },
    },
    tools: opts.tools,
    tool_choice: "auto",
    ...(opts.reasoningEffort ? { reasoning: { effort: opts.reasoningEffort } } : {}),
  };
}
