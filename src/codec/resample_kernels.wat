;; SIMD kernels of the 8 kHz <-> 24 kHz polyphase resamplers (see resample.ts).
;; Pure functions over the instance's own memory; the caller lays out coefficients, the f32
;; history+input window and the int16 output area, and keeps all stream state.
;; Both kernels work in blocks of 4 (inputs up / outputs down) and may read past the valid
;; window and write up to one block past the valid outputs: the caller leaves slack for that.
;; Every valid output depends only on its own lanes, so results do not depend on block layout.
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
)
