#!/usr/bin/env bash
# The README's two whole-command speed comparisons, side by side in one hyperfine run each:
#   1. 10 min of 48 kHz 16-bit mono through `specgate filter --preset voice` vs `sox noisered 0.21`
#      (issue 8's target: specgate at least 3x faster);
#   2. a 20 s 2 MS/s 16-bit I/Q WAV (SDRuno-named) file to file (target: >= 25x real time, i.e.
#      under 0.8 s), with its CPU time and peak memory from /usr/bin/time.
# Installs sox, hyperfine and GNU time with apt when they are missing (Debian/Ubuntu), builds the
# release binary, and makes the inputs with the README's sox commands in a scratch directory
# (removed at the end; SPEED_DIR keeps it). Usage: benches/speed.sh [runs, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
need=()
command -v sox >/dev/null || need+=(sox)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "speed.sh: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --release --quiet --bin specgate
bin="$PWD/target/release/specgate"

dir="${SPEED_DIR:-$(mktemp -d)}"
mkdir -p "$dir"
[ -n "${SPEED_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
cd "$dir"
[ -f voice.wav ] || sox -n -r 48000 -b 16 -c 1 voice.wav synth 600 pinknoise vol 0.3
[ -f noise.prof ] || { sox voice.wav noise2s.wav trim 0 2 && sox noise2s.wav -n noiseprof noise.prof; }
iq=SDRuno_20240101_000000Z_7150kHz.wav
[ -f "$iq" ] || sox -n -r 2000000 -b 16 -c 2 "$iq" synth 20 whitenoise sine 250000 vol 0.1

hyperfine -N -r "$runs" \
  "$bin filter voice.wav -o out.wav --preset voice -q" \
  "sox voice.wav sox.wav noisered noise.prof 0.21"
hyperfine -N -r "$runs" "$bin filter $iq -o iq-out.wav -q"
/usr/bin/time -f "I/Q 20 s: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
  "$bin" filter "$iq" -o iq-out.wav -q
