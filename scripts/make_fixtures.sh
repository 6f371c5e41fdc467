#!/usr/bin/env bash
# Regenerates the real-speech audio fixtures in tests/fixtures/ with espeak-ng and sox.
# Every sentence is written three ways, all 8 kHz mono:
#   NAME_8k_mulaw.wav  G.711 mu-law WAV (format 7)
#   NAME_8k_mulaw.raw  the same codes without a header: exactly what Twilio media payloads carry
#   NAME_8k_pcm16.wav  16-bit PCM WAV
# Usage: bash scripts/make_fixtures.sh   (needs espeak-ng and sox on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/fixtures
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make() { # make NAME VOICE "TEXT"
  local name=$1 voice=$2 text=$3
  espeak-ng -v "$voice" -s 165 -w "$tmp/$name.wav" "$text"
  # -D: no dither, so the output is deterministic; gain -1 leaves headroom for the resampler.
  sox -D "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed "$out/${name}_8k_pcm16.wav" gain -1 rate -v
  sox -D "$out/${name}_8k_pcm16.wav" -e u-law "$out/${name}_8k_mulaw.wav"
  sox -D "$out/${name}_8k_pcm16.wav" -t raw -e u-law "$out/${name}_8k_mulaw.raw"
}

make caller_book_haircut en-us "Hi, I'd like to book a haircut tomorrow afternoon."
make caller_repeat_that en-us "Actually, wait, can you repeat that?"
make caller_two_thirty en-us "Two thirty works. My name is Sam Rivera."
make agent_greeting en-us+f3 "Thanks for calling Bella Salon. How can I help you today?"
ls -l "$out"
