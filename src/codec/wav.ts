/**
 * RIFF/WAVE writing (PCM16 and G.711 mu-law) and reading (for fixtures and recordings).
 *
 * Writing produces the canonical layout: 44-byte header for PCM16; for mu-law a 18-byte
 * `fmt ` chunk plus a `fact` chunk, as the WAVE spec asks for non-PCM formats (58 bytes).
 * A recorder that streams to disk writes {@linkcode wavHeader} with its final sizes, or a
 * placeholder that it rewrites once the length is known.
 *
 * @module
 */

import { decodeMulaw } from "./mulaw.ts";
import { pcm16FromBytes, pcm16ToBytes } from "./pcm.ts";

/** WAVE format tag for integer PCM. */
export const WAVE_FORMAT_PCM = 1;
/** WAVE format tag for G.711 mu-law. */
export const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Sample encodings this module reads and writes. */
export type WavEncoding = "pcm16" | "mulaw";

/** Format of a WAV stream. */
export interface WavFormat {
  /** Sample encoding: 16-bit signed PCM or 8-bit G.711 mu-law. */
  encoding: WavEncoding;
  /** Samples per second per channel. */
  sampleRate: number;
  /** Interleaved channel count. */
  channels: number;
}

/** A parsed WAV file: its format and the raw bytes of its `data` chunk (a view, not a copy). */
export interface WavData extends WavFormat {
  /** Raw sample bytes (PCM16LE or mu-law codes), interleaved. */
  data: Uint8Array;
}

function bytesPerSample(encoding: WavEncoding): number {
  return encoding === "pcm16" ? 2 : 1;
}

/**
 * The header (everything before the sample bytes) of a WAV file holding `dataBytes` bytes.
 *
 * @example
 * ```ts
 * wavHeader({ encoding: "pcm16", sampleRate: 8000, channels: 1 }, 320).length; // 44
 * ```
 */
export function wavHeader(format: WavFormat, dataBytes: number): Uint8Array {
  const { encoding, sampleRate, channels } = format;
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new RangeError(`bad sample rate ${sampleRate}`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 16) {
    throw new RangeError(`bad channel count ${channels}`);
  }
  const bps = bytesPerSample(encoding);
  const pcm = encoding === "pcm16";
  const fmtSize = pcm ? 16 : 18;
  const factSize = pcm ? 0 : 12;
  const headerSize = 12 + 8 + fmtSize + factSize + 8;
  const pad = dataBytes % 2; // RIFF chunks are word aligned
  const out = new Uint8Array(headerSize);
  const dv = new DataView(out.buffer);
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  ascii(0, "RIFF");
  dv.setUint32(4, headerSize - 8 + dataBytes + pad, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  dv.setUint32(16, fmtSize, true);
  dv.setUint16(20, pcm ? WAVE_FORMAT_PCM : WAVE_FORMAT_MULAW, true);
  dv.setUint16(22, channels, true);
  dv.setUint32(24, sampleRate, true);
  dv.setUint32(28, sampleRate * channels * bps, true);
  dv.setUint16(32, channels * bps, true);
  dv.setUint16(34, bps * 8, true);
  let at = 36;
  if (!pcm) {
    dv.setUint16(at, 0, true); // cbSize
    at += 2;
    ascii(at, "fact");
    dv.setUint32(at + 4, 4, true);
    dv.setUint32(at + 8, Math.floor(dataBytes / channels), true); // samples per channel
    at += 12;
  }
  ascii(at, "data");
  dv.setUint32(at + 4, dataBytes, true);
  return out;
}

/**
 * A complete WAV file for `data` (PCM16 samples, or mu-law codes when `encoding` is "mulaw").
 *
 * @example
 * ```ts
 * const wav = encodeWav(new Int16Array(8000), { encoding: "pcm16", sampleRate: 8000, channels: 1 });
 * wav.length; // 16044
 * ```
 */
export function encodeWav(data: Int16Array | Uint8Array, format: WavFormat): Uint8Array {
  if ((format.encoding === "pcm16") !== data instanceof Int16Array) {
    throw new TypeError(
      `${format.encoding} WAV needs ${
        format.encoding === "pcm16" ? "Int16Array" : "Uint8Array"
      } data`,
    );
  }
  const bytes = data instanceof Int16Array ? pcm16ToBytes(data) : data;
  const header = wavHeader(format, bytes.length);
  const out = new Uint8Array(header.length + bytes.length + (bytes.length % 2));
  out.set(header, 0);
  out.set(bytes, header.length);
  return out;
}

/**
 * Parses a WAV file: PCM16 or mu-law (plain or WAVE_FORMAT_EXTENSIBLE), any chunk order,
 * unknown chunks skipped. Throws a descriptive error for anything else.
 *
 * @example
 * ```ts
 * const wav = decodeWav(await Deno.readFile("tests/fixtures/caller_book_haircut_8k_mulaw.wav"));
 * wav.encoding; // "mulaw"
 * ```
 */
export function decodeWav(file: Uint8Array): WavData {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const tag = (at: number) => String.fromCharCode(...file.subarray(at, at + 4));
  if (file.length < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    throw new Error("not a RIFF/WAVE file");
  }
  let format: WavFormat | undefined;
  let data: Uint8Array | undefined;
  let at = 12;
  while (at + 8 <= file.length) {
    const id = tag(at);
    const size = dv.getUint32(at + 4, true);
    const body = at + 8;
    // A streamed recording may carry a placeholder size: clamp data to what is there.
    const end = Math.min(body + size, file.length);
    if (id === "fmt ") {
      if (size < 16) throw new Error(`fmt chunk too short (${size} bytes)`);
      let fmtTag = dv.getUint16(body, true);
      const channels = dv.getUint16(body + 2, true);
      const sampleRate = dv.getUint32(body + 4, true);
      const bits = dv.getUint16(body + 14, true);
      if (fmtTag === WAVE_FORMAT_EXTENSIBLE && size >= 40) fmtTag = dv.getUint16(body + 24, true);
      if (fmtTag === WAVE_FORMAT_PCM && bits === 16) {
        format = { encoding: "pcm16", sampleRate, channels };
      } else if (fmtTag === WAVE_FORMAT_MULAW && bits === 8) {
        format = { encoding: "mulaw", sampleRate, channels };
      } else {
        throw new Error(`unsupported WAV format tag ${fmtTag} with ${bits} bits per sample`);
      }
    } else if (id === "data") {
      data = file.subarray(body, end);
    }
    at = body + size + (size % 2);
  }
  if (!format) throw new Error("WAV file has no fmt chunk");
  if (!data) throw new Error("WAV file has no data chunk");
  const frame = format.channels * bytesPerSample(format.encoding);
  return { ...format, data: data.subarray(0, data.length - (data.length % frame)) };
}

/**
 * Samples of a parsed WAV as PCM16 (mu-law is expanded; PCM16 is a view when aligned).
 *
 * @example
 * ```ts
 * const pcm = wavToPcm16(decodeWav(await Deno.readFile("speech.wav")));
 * ```
 */
export function wavToPcm16(wav: WavData): Int16Array {
  return wav.encoding === "pcm16" ? pcm16FromBytes(wav.data) : decodeMulaw(wav.data);
}
