/**
 * Loads the codec's WebAssembly SIMD kernels (`kernels.wat`, embedded in `kernels.ts`).
 * The module is compiled once at load; each user instantiates it to get its own 64 KiB memory.
 * WebAssembly memory is little-endian, and so are the typed-array views the callers put over
 * it: that holds on every platform Deno ships for, and loading fails loudly anywhere else.
 *
 * @module
 */

import { CODEC_KERNELS_WASM_BASE64 } from "./kernels.ts";
import { IS_LITTLE_ENDIAN } from "./pcm.ts";

/** Exports of `kernels.wat`. Pointers are byte offsets into `memory`; see the .wat for layouts. */
export interface CodecKernels {
  /** The instance's own memory (one 64 KiB page, never grown, so views stay valid). */
  memory: WebAssembly.Memory;
  /** 8k -> 24k polyphase FIR on f32: `blocks` blocks of 4 inputs, 12 int16 out per block. */
  up3(coefs: number, phaseTaps: number, window: number, blocks: number, out: number): void;
  /** 24k -> 8k FIR at every third input: `blocks` blocks of 4 int16 outputs. */
  down3(coefs: number, quads: number, window: number, blocks: number, out: number): void;
  /** G.711 mu-law encode: `blocks` blocks of 8 int16 samples -> 8 codes. */
  mulawEncode(pcm: number, blocks: number, out: number): void;
  /** G.711 mu-law decode: `blocks` blocks of 8 codes -> 8 int16 samples. */
  mulawDecode(codes: number, blocks: number, out: number): void;
}

if (!IS_LITTLE_ENDIAN) throw new Error("the codec's WebAssembly kernels need a little-endian host");
const MODULE = new WebAssembly.Module(Uint8Array.fromBase64(CODEC_KERNELS_WASM_BASE64));

/**
 * A new kernel instance with its own zeroed memory.
 *
 * @example
 * ```ts
 * const k = instantiateCodecKernels();
 * new Uint8Array(k.memory.buffer).length; // 65536
 * ```
 */
export function instantiateCodecKernels(): CodecKernels {
  return new WebAssembly.Instance(MODULE).exports as unknown as CodecKernels;
}
