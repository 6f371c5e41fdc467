#!/usr/bin/env bash
# Regenerates the prepared prompts in assets/ that the service plays WITHOUT the model
# (when the model cannot be reached). 8 kHz G.711 mu-law WAV, what Twilio plays as is.
# Usage: bash scripts/make_assets.sh   (needs espeak-ng and sox on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make() { # make NAME "TEXT"
  local name=$1 text=$2
  espeak-ng -v en-us+f3 -s 160 -w "$tmp/$name.wav" "$text"
  sox -D "$tmp/$name.wav" -r 8000 -c 1 -e u-law "assets/$name.wav" gain -1 rate -v
}

make apology_transfer "I'm sorry, our booking assistant is not available right now. Let me put you through to the team."
make apology_hangup "I'm sorry, our booking assistant is not available right now. Please call again in a few minutes. Goodbye."
make hold "One moment, please."
ls -l assets
