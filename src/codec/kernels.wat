;; WebAssembly SIMD kernels of the codec: the 8 kHz <-> 24 kHz polyphase resamplers
;; (resample.ts) and G.711 mu-law encode/decode (mulaw.ts). Assemble with
;; scripts/codec_build_wasm.ts, which writes kernels.ts.
;; Pure functions over the instance's own memory; the caller lays out coefficients, signal
;; windows and outputs (byte offsets), and keeps all stream state.
;; All kernels work in whole blocks and may read past the valid input and write up to one
;; block past the valid outputs: the caller leaves slack for that. Every valid output depends
;; only on its own lanes, so results do not depend on where the blocks fall.
(module
  (memory (export "memory") 1)

  ;; Rounds 4 f32 lanes to nearest (ties to even) and saturates them to int16 lanes 0..3
  ;; (and again in 4..7).
  (func $toInt16x4 (param $v v128) (result v128)
    (local $i v128)
    (local.set $i (i32x4.trunc_sat_f32x4_s (f32x4.nearest (local.get $v))))
    (i16x8.narrow_i32x4_s (local.get $i) (local.get $i)))

  ;; 8k -> 24k: for each input i (4 at a time), out[3i + p] = sum_j c[j][p] * x[i + j], where
  ;; c is $k vectors [phase0, phase1, phase2, 0] at $c and x is f32 at $x (oldest first).
  ;; Writes 3 int16 per input at $out.
  (func (export "up3") (param $c i32) (param $k i32) (param $x i32) (param $blocks i32)
    (param $out i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $cv v128) (local $cp i32) (local $xp i32) (local $cend i32)
    (local.set $cend (i32.add (local.get $c) (i32.shl (local.get $k) (i32.const 4))))
    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $blocks)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $cp (local.get $c))
        (local.set $xp (local.get $x))
        (loop $tap
          (local.set $cv (v128.load (local.get $cp)))
          (local.set $a0 (f32x4.add (local.get $a0)
            (f32x4.mul (local.get $cv) (v128.load32_splat offset=0 (local.get $xp)))))
          (local.set $a1 (f32x4.add (local.get $a1)
            (f32x4.mul (local.get $cv) (v128.load32_splat offset=4 (local.get $xp)))))
          (local.set $a2 (f32x4.add (local.get $a2)
            (f32x4.mul (local.get $cv) (v128.load32_splat offset=8 (local.get $xp)))))
          (local.set $a3 (f32x4.add (local.get $a3)
            (f32x4.mul (local.get $cv) (v128.load32_splat offset=12 (local.get $xp)))))
          (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
          (local.set $cp (i32.add (local.get $cp) (i32.const 16)))
          (br_if $tap (i32.lt_u (local.get $cp) (local.get $cend))))
        ;; 3 int16 per input: lanes 0-1 as one 32-bit store, lane 2 as a 16-bit store.
        (local.set $cv (call $toInt16x4 (local.get $a0)))
        (v128.store32_lane offset=0 0 (local.get $out) (local.get $cv))
        (v128.store16_lane offset=4 2 (local.get $out) (local.get $cv))
        (local.set $cv (call $toInt16x4 (local.get $a1)))
        (v128.store32_lane offset=6 0 (local.get $out) (local.get $cv))
        (v128.store16_lane offset=10 2 (local.get $out) (local.get $cv))
        (local.set $cv (call $toInt16x4 (local.get $a2)))
        (v128.store32_lane offset=12 0 (local.get $out) (local.get $cv))
        (v128.store16_lane offset=16 2 (local.get $out) (local.get $cv))
        (local.set $cv (call $toInt16x4 (local.get $a3)))
        (v128.store32_lane offset=18 0 (local.get $out) (local.get $cv))
        (v128.store16_lane offset=22 2 (local.get $out) (local.get $cv))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 24)))
        (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
        (br $block))))

  ;; 24k -> 8k: for each output r (4 at a time), out[r] = sum_t h[t] * x[3r + t], where h is
  ;; $q vectors of 4 taps at $h (zero padded) and x is f32 at $x. Writes int16 at $out.
  (func (export "down3") (param $h i32) (param $q i32) (param $x i32) (param $blocks i32)
    (param $out i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $hv v128) (local $hp i32) (local $xp i32) (local $hend i32)
    (local $t0 v128) (local $t1 v128)
    (local.set $hend (i32.add (local.get $h) (i32.shl (local.get $q) (i32.const 4))))
    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $blocks)))
        (local.set $a0 (v128.const i64x2 0 0))
        (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0))
        (local.set $a3 (v128.const i64x2 0 0))
        (local.set $hp (local.get $h))
        (local.set $xp (local.get $x))
        (loop $tap
          (local.set $hv (v128.load (local.get $hp)))
          (local.set $a0 (f32x4.add (local.get $a0)
            (f32x4.mul (local.get $hv) (v128.load offset=0 align=4 (local.get $xp)))))
          (local.set $a1 (f32x4.add (local.get $a1)
            (f32x4.mul (local.get $hv) (v128.load offset=12 align=4 (local.get $xp)))))
          (local.set $a2 (f32x4.add (local.get $a2)
            (f32x4.mul (local.get $hv) (v128.load offset=24 align=4 (local.get $xp)))))
          (local.set $a3 (f32x4.add (local.get $a3)
            (f32x4.mul (local.get $hv) (v128.load offset=36 align=4 (local.get $xp)))))
          (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
          (local.set $hp (i32.add (local.get $hp) (i32.const 16)))
          (br_if $tap (i32.lt_u (local.get $hp) (local.get $hend))))
        ;; Transpose-add: lane r of the result is (a_r.0 + a_r.1) + (a_r.2 + a_r.3).
        (local.set $t0 (f32x4.add
          (i8x16.shuffle 0 1 2 3 16 17 18 19 8 9 10 11 24 25 26 27 (local.get $a0) (local.get $a1))
          (i8x16.shuffle 4 5 6 7 20 21 22 23 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1))))
        (local.set $t1 (f32x4.add
          (i8x16.shuffle 0 1 2 3 16 17 18 19 8 9 10 11 24 25 26 27 (local.get $a2) (local.get $a3))
          (i8x16.shuffle 4 5 6 7 20 21 22 23 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3))))
        (v128.store64_lane 0 (local.get $out) (call $toInt16x4 (f32x4.add
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))))
        (local.set $x (i32.add (local.get $x) (i32.const 48)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
        (br $block))))
;; mu-law encode, G.191 ulaw_compress exactly, 8 samples per block: int16 at $pcm -> codes
  ;; at $out. With m = |x| as ones' complement (x ^ (x >> 15)) and
  ;; a = min((m >> 2) + 33, 0x1fff), the segment is floor(log2 a) - 4 and the 4 mantissa bits
  ;; follow the leading one: both sit in the float32 bits of a (exact below 2^24), so the
  ;; 7-bit code, (12 - e) * 16 + (15 - mantissa), is 2239 - (bits(float(a)) >> 19); bit 7 is
  ;; set for x >= 0.
  ;; (Vector constants live in locals set before the loops: V8 rebuilds a v128.const at every
  ;; use, which made these loops ~2.5x slower.)
  (func (export "mulawEncode") (param $pcm i32) (param $blocks i32) (param $out i32)
    (local $x v128) (local $a v128) (local $sign v128)
    (local $c33 v128) (local $cmax v128) (local $c80 v128) (local $c2239 v128)
    (local.set $c33 (v128.const i16x8 33 33 33 33 33 33 33 33))
    (local.set $cmax (v128.const i16x8 0x1fff 0x1fff 0x1fff 0x1fff 0x1fff 0x1fff 0x1fff 0x1fff))
    (local.set $c80 (v128.const i16x8 0x80 0x80 0x80 0x80 0x80 0x80 0x80 0x80))
    (local.set $c2239 (v128.const i32x4 2239 2239 2239 2239))
    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $blocks)))
        (local.set $x (v128.load align=2 (local.get $pcm)))
        (local.set $sign (i16x8.shr_s (local.get $x) (i32.const 15)))
        (local.set $a (i16x8.min_s
          (i16x8.add
            (i16x8.shr_s (v128.xor (local.get $x) (local.get $sign)) (i32.const 2))
            (local.get $c33))
          (local.get $cmax)))
        ;; codes are 0..255: the signed 32->16 narrow is exact, the unsigned 16->8 too
        (local.set $a (v128.or
          (i16x8.narrow_i32x4_s
            (i32x4.sub (local.get $c2239) (i32x4.shr_u
              (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $a))) (i32.const 19)))
            (i32x4.sub (local.get $c2239) (i32x4.shr_u
              (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $a))) (i32.const 19))))
          (v128.andnot (local.get $c80) (local.get $sign))))
        (v128.store64_lane align=1 0 (local.get $out)
          (i8x16.narrow_i16x8_u (local.get $a) (local.get $a)))
        (local.set $pcm (i32.add (local.get $pcm) (i32.const 16)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
        (br $block))))

  ;; mu-law decode, G.191 ulaw_expand exactly, 8 codes per block: codes at $codes -> int16 at
  ;; $out. With m = ~code in int16 lanes, the level is
  ;; (((m & 15) << 3) + 0x84) << ((m >> 4) & 7)) - 0x84, negated when bit 7 of m is set.
  ;; The per-lane shift is a multiply by 1 << e, looked up bytewise from a table: the lane
  ;; index bytes (2e, 2e + 1) = e * 0x202 + 0x100 pick the table bytes (2^e, 0).
  (func (export "mulawDecode") (param $codes i32) (param $blocks i32) (param $out i32)
    (local $m v128) (local $pow v128) (local $mag v128) (local $neg v128)
    (local $c7 v128) (local $c15 v128) (local $c84 v128) (local $c202 v128) (local $c100 v128)
    (local $pow2 v128)
    (local.set $c7 (v128.const i16x8 7 7 7 7 7 7 7 7))
    (local.set $c15 (v128.const i16x8 15 15 15 15 15 15 15 15))
    (local.set $c84 (v128.const i16x8 0x84 0x84 0x84 0x84 0x84 0x84 0x84 0x84))
    (local.set $c202 (v128.const i16x8 0x202 0x202 0x202 0x202 0x202 0x202 0x202 0x202))
    (local.set $c100 (v128.const i16x8 0x100 0x100 0x100 0x100 0x100 0x100 0x100 0x100))
    (local.set $pow2 (v128.const i8x16 1 0 2 0 4 0 8 0 16 0 32 0 64 0 128 0))
    (block $done
      (loop $block
        (br_if $done (i32.eqz (local.get $blocks)))
        ;; 8 codes widened to int16 lanes, complemented (the high byte is never looked at)
        (local.set $m (v128.not (v128.load8x8_u align=1 (local.get $codes))))
        (local.set $pow (i8x16.swizzle (local.get $pow2)
          (i16x8.add
            (i16x8.mul
              (v128.and (i16x8.shr_u (local.get $m) (i32.const 4)) (local.get $c7))
              (local.get $c202))
            (local.get $c100))))
        (local.set $mag (i16x8.sub
          (i16x8.mul
            (i16x8.add (i16x8.shl (v128.and (local.get $m) (local.get $c15)) (i32.const 3))
              (local.get $c84))
            (local.get $pow))
          (local.get $c84)))
        ;; all ones where bit 7 of m is set: (mag ^ neg) - neg negates those lanes
        (local.set $neg (i16x8.shr_s (i16x8.shl (local.get $m) (i32.const 8)) (i32.const 15)))
        (v128.store align=2 (local.get $out)
          (i16x8.sub (v128.xor (local.get $mag) (local.get $neg)) (local.get $neg)))
        (local.set $codes (i32.add (local.get $codes) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $blocks (i32.sub (local.get $blocks) (i32.const 1)))
        (br $block))))
)
