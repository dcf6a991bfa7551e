#!/bin/sh
# Reproduces the `specgate invert` quality/speed measurement against librosa on synthetic speech.
# Needs: espeak-ng, sox, a release build (cargo build --release), and
#        pip install librosa numpy scipy soundfile
# Usage: tools/measure_invert.sh [workdir]
set -eu
dir=${1:-$(mktemp -d)}
bin=$(dirname "$0")/../target/release/specgate
espeak-ng -w "$dir/speech.wav" "The quick brown fox jumps over the lazy dog. Radio amateurs listen to weak signals in the noise."
sox "$dir/speech.wav" -r 16000 "$dir/speech16k.wav"
for i in 1 2 3; do
  "$bin" invert "$dir/speech16k.wav" -o "$dir/rebuilt.wav" --n-fft 512 --hop 128 --iterations 32 --report-every 0
done
python3 "$(dirname "$0")/librosa_griffinlim.py" "$dir/speech16k.wav" --n-fft 512 --hop 128 --iterations 32
