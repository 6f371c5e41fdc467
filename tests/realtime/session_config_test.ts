/** buildSessionConfig: the GA session object for both audio formats and both VAD kinds. */
import assert from "node:assert/strict";
import {
  buildSessionConfig,
  type SessionConfigOptions,
} from "../../src/realtime/session_config.ts";

const base: SessionConfigOptions = {
  model: "gpt-realtime-2.1",
  voice: "marin",
  audioFormat: "pcmu",
  instructions: "You are the receptionist.",
  tools: [],
  vad: { type: "server_vad", threshold: 0.6, prefixPaddingMs: 250, silenceDurationMs: 700 },
};

Deno.test("pcmu + server VAD: mu-law both ways, configured VAD, transcription, near_field", () => {
  const s = buildSessionConfig(base);
  assert.deepEqual(s, {
    type: "realtime",
    model: "gpt-realtime-2.1",
    output_modalities: ["audio"],
    instructions: "You are the receptionist.",
    audio: {
      input: {
        format: { type: "audio/pcmu" },
        transcription: { model: "gpt-transcribe" },
        noise_reduction: { type: "near_field" },
        turn_detection: {
          type: "server_vad",
          threshold: 0.6,
          prefix_padding_ms: 250,
          silence_duration_ms: 700,
          create_response: true,
          interrupt_response: true,
        },
      },
      output: { format: { type: "audio/pcmu" }, voice: "marin" },
    },
    tools: [],
    tool_choice: "auto",
  });
});

Deno.test("pcm16 + semantic VAD: 24 kHz PCM both ways, eagerness, custom transcription", () => {
  const s = buildSessionConfig({
    ...base,
    audioFormat: "pcm16",
    vad: { type: "semantic_vad", eagerness: "high" },
    transcriptionModel: "gpt-4o-transcribe",
  });
  assert.deepEqual(s.audio.input.format, { type: "audio/pcm", rate: 24000 });
  assert.deepEqual(s.audio.output.format, { type: "audio/pcm", rate: 24000 });
  assert.deepEqual(s.audio.input.turn_detection, {
    type: "semantic_vad",
    eagerness: "high",
    create_response: true,
    interrupt_response: true,
  });
  assert.equal(s.audio.input.transcription.model, "gpt-4o-transcribe");
});

Deno.test("an out-of-range VAD threshold is refused", () => {
  assert.throws(
    () =>
      buildSessionConfig({
        ...base,
        vad: { type: "server_vad", threshold: 2, prefixPaddingMs: 0, silenceDurationMs: 0 },
      }),
    RangeError,
  );
});

Deno.test("reasoning effort is sent only when set; the transcription model is configurable", () => {
  assert.equal("reasoning" in buildSessionConfig(base), false);
  const s = buildSessionConfig({
    ...base,
    reasoningEffort: "minimal",
    transcriptionModel: "gpt-live-transcribe",
  });
  assert.deepEqual(s.reasoning, { effort: "minimal" });
  assert.deepEqual(s.audio.input.transcription, { model: "gpt-live-transcribe" });
});
