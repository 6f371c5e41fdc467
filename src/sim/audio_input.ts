/**
 * Caller audio for the call simulator: any WAV the codec reads (PCM16 or mu-law, any rate,
 * any channel count) or a sentence spoken by espeak-ng, turned into 8 kHz mu-law the way
 * Twilio sends it; plus the energy measure that finds where the speech in it ends.
 *
 * @module
 */
import { decodeWav, wavToPcm16 } from "../codec/wav.ts";
import { encodeMulaw } from "../codec/mulaw.ts";
import { decodeMulaw } from "../codec/mulaw.ts";
import { Downsampler24kTo8k } from "../codec/resample.ts";

const TWILIO_RATE = 8000;

/** Mixes interleaved PCM16 down to mono (average of the channels). */
export function downmix(pcm: Int16Array, channels: number): Int16Array {
  if (channels === 1) return pcm;
  const frames = Math.floor(pcm.length / channels);
  const out = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += pcm[i * channels + c];
    out[i] = Math.round(sum / channels);
  }
  return out;
}

/**
 * Resamples mono PCM16 from `rate` to 8 kHz. 8 kHz is passed through, 24 kHz uses the
 * service's own polyphase downsampler; any other rate uses a Kaiser-windowed sinc
 * low-pass at 3.8 kHz (offline, whole buffer: this is a developer tool, not the hot path).
 *
 * @example
 * ```ts
 * resampleTo8k(new Int16Array(22050), 22050).length; // 8000
 * ```
 */
export function resampleTo8k(pcm: Int16Array, rate: number): Int16Array {
  if (rate === TWILIO_RATE) return pcm;
  if (rate === 24000) {
    const down = new Downsampler24kTo8k();
    const out = new Int16Array(down.outputLength(pcm.length));
    down.processInto(pcm, out);
    return out;
  }
  const step = rate / TWILIO_RATE; // input samples per output sample
  // Cut-off relative to the input rate; below 8 kHz input the input's own Nyquist bounds it.
  const fc = Math.min(3800, rate * 0.475) / rate;
  const halfWidth = Math.ceil(16 / (2 * fc)); // 16 zero crossings each side
  const beta = 8;
  const i0Beta = besselI0(beta);
  const outLength = Math.floor(pcm.length / step);
  const out = new Int16Array(outLength);
  for (let n = 0; n < outLength; n++) {
    const t = n * step;
    const center = Math.floor(t);
    let acc = 0;
    for (let k = center - halfWidth + 1; k <= center + halfWidth; k++) {
      if (k < 0 || k >= pcm.length) continue;
      const x = t - k;
      const r = x / halfWidth;
      if (r <= -1 || r >= 1) continue;
      const arg = 2 * Math.PI * fc * x;
      const sinc = x === 0 ? 2 * fc : Math.sin(arg) / (Math.PI * x);
      acc += pcm[k] * sinc * besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
    }
    const v = Math.round(acc);
    out[n] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 40; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

/**
 * Decodes a WAV file's bytes into 8 kHz mono mu-law (resampled and down-mixed as needed).
 * Throws the codec's descriptive error for formats it does not read.
 */
export function wavBytesToMulaw8k(file: Uint8Array): Uint8Array {
  const wav = decodeWav(file);
  if (wav.encoding === "mulaw" && wav.sampleRate === TWILIO_RATE && wav.channels === 1) {
    return wav.data.slice();
  }
  const mono = downmix(wavToPcm16(wav), wav.channels);
  return encodeMulaw(resampleTo8k(mono, wav.sampleRate));
}

/** Reads a WAV file into 8 kHz mono mu-law. */
export async function readWavAsMulaw8k(path: string): Promise<Uint8Array> {
  return wavBytesToMulaw8k(await Deno.readFile(path));
}

/** Raised when espeak-ng is missing or may not be run. */
export class SpeechSynthesisError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpeechSynthesisError";
  }
}

/**
 * Speaks `text` with espeak-ng (`--stdout`, US English) and returns 8 kHz mu-law.
 * Needs `--allow-run` (granted by `deno task call`).
 */
export async function speakToMulaw8k(
  text: string,
  options: { voice?: string; wordsPerMinute?: number; command?: string } = {},
): Promise<Uint8Array> {
  const command = options.command ?? "espeak-ng";
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args: [
        "--stdout",
        "-v",
        options.voice ?? "en-us",
        "-s",
        String(options.wordsPerMinute ?? 160),
        text,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new SpeechSynthesisError(
        `${command} is not installed: install espeak-ng or pass --wav FILE instead of --say`,
      );
    }
    if (error instanceof Deno.errors.NotCapable) {
      throw new SpeechSynthesisError(
        `--say needs permission to run ${command} (use \`deno task call\`, which grants ` +
          "--allow-run), or pass --wav FILE",
      );
    }
    throw error;
  }
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new SpeechSynthesisError(`${command} failed (exit ${output.code}): ${stderr}`);
  }
  return wavBytesToMulaw8k(output.stdout);
}

/**
 * Ms from the start of `mulaw` to the end of its last 20 ms frame louder than
 * `thresholdRms` (PCM16 scale; default ≈ -40 dBFS), or 0 if it is all quiet.
 * The caller's end of speech, for measuring turn latency the way a person hears it.
 */
export function speechEndMs(mulaw: Uint8Array, thresholdRms = 330): number {
  const frame = 160;
  const pcm = decodeMulaw(mulaw);
  for (let end = pcm.length; end > 0; end -= frame) {
    const start = Math.max(0, end - frame);
    let sum = 0;
    for (let i = start; i < end; i++) sum += pcm[i] * pcm[i];
    if (Math.sqrt(sum / (end - start)) >= thresholdRms) return end / 8;
  }
  return 0;
}
