#!/usr/bin/env bash
# Weak-signal check with an open-source decoder (local, not CI): FT8 transmissions synthesised by
# WSJT-X's ft8sim (white noise, SNR in 2500 Hz, 12 kHz 16-bit WAV) are decoded by jt9 -8 raw and
# after each preset; prints how many of the messages each decodes. Real off-air recordings would
# be better; this machine cannot download them (see the README's weak-signal section).
# Needs: apt-get install wsjtx (ships ft8sim and jt9).
# Usage: tools/weak_signal_ft8.sh [specgate binary] [files per SNR] [SNRs...]
set -euo pipefail
SG=${1:-target/release/specgate}
N=${2:-4}
shift 2 2>/dev/null || true
SNRS=${*:-"-14 -17 -19 -20 -21"}
for t in ft8sim jt9; do command -v $t >/dev/null || { echo "$t missing: apt-get install wsjtx" >&2; exit 1; }; done
SG=$(realpath "$SG")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
dec() { jt9 -8 "$1" 2>/dev/null | grep -c "W9XYZ" || true; }
printf "%-6s %5s %5s %5s %5s %5s\n" snr sent raw cw voice am
for snr in $SNRS; do
  rm -f 000000_*.wav
  ft8sim "K1ABC W9XYZ EN37" 1500.0 0.0 0.1 1.0 "$N" "$snr" >/dev/null
  raw=0; cw=0; voice=0; am=0
  for f in 000000_*.wav; do
    raw=$((raw + $(dec "$f")))
    for p in cw voice am; do
      "$SG" filter -p $p --out-format s16 -o "${p}_$f" "$f" 2>/dev/null
      eval "$p=\$((\$$p + \$(dec ${p}_$f)))"
    done
  done
  printf "%-6s %5s %5s %5s %5s %5s\n" "$snr" "$N" "$raw" "$cw" "$voice" "$am"
done
