/**
 * What the caller hears is what the model said: the fake model speaks a real speech
 * fixture (encoded with the reference G.711 table, or upsampled to 24 kHz by the fake's own
 * resampler), and the audio the fake caller played is compared with the fixture sample by
 * sample. Byte counts cannot see a codec that distorts, shifts or biases the signal; this can.
 */
import assert from "node:assert/strict";
import { referenceEncode } from "../../scripts/sim/g711.ts";
import { compareHeard, readPcm8kWav } from "../../scripts/sim/reference_audio.ts";
import { silence, startHarness, waitUntil } from "../support/harness.ts";

const greeting = readPcm8kWav(new URL("../fixtures/agent_greeting_8k_pcm16.wav", import.meta.url));
const GREETING_MS = greeting.length / 8;

for (const format of ["pcmu", "pcm16"] as const) {
  Deno.test(`e2e (${format}): the caller hears the model's words, sample for sample`, async () => {
    await using h = await startHarness({
      env: { AUDIO_FORMAT: format },
      fake: {
        responder: () => ({
          audioMs: GREETING_MS,
          transcript: "Thanks for calling Bella Salon. How can I help you today?",
          pcm8k: greeting,
        }),
      },
    });
    const caller = await h.dial({ audio: silence(500) });
    await waitUntil(
      () => caller.agentAudioMsPlayed >= GREETING_MS,
      15_000,
      "the greeting played",
      () => `${caller.agentAudioMsPlayed} ms played`,
    );
    await caller.hangUp();
    const heard = caller.heardAudio();
    assert.ok(heard.length >= greeting.length, `heard ${heard.length / 8} ms`);
    const match = compareHeard(heard, greeting);
    const said = `lag ${match.lag}, r ${match.correlation.toFixed(4)}, SNR ${
      match.snrDb.toFixed(1)
    } dB`;
    if (format === "pcmu") {
      // mu-law passes through untouched: the very codes the model sent, in order.
      assert.equal(match.lag, 0, said);
      assert.deepEqual(heard.subarray(0, greeting.length), referenceEncode(greeting));
    } else {
      // 24 kHz PCM16 -> 8 kHz mu-law: a resampler's few samples of delay, its pass band
      // and the mu-law quantisation; nothing else (measured: lag 18, 34 dB). A DC bias of
      // 128 in the encoder alone takes it under 26 dB.
      assert.ok(match.lag <= 40, said);
      assert.ok(match.correlation > 0.99, said);
      assert.ok(match.snrDb > 30, said);
    }
    assert.deepEqual(h.fake.sessions[0].errors, []);
  });
}
