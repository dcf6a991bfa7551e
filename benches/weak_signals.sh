#!/usr/bin/env bash
# Weak signals kept: what a standard weak-signal decoder (WSJT-X's jt9, FT8, deep decoding) finds in
# off-air recordings before and after specgate, message by message.
#
#   benches/weak_signals.sh DIR [PRESET…]      (default presets: cw voice am)
#
# DIR holds 15 s, 12 kHz mono 16-bit FT8 recordings (*.wav), e.g. the off-air test recordings
# of the open-source ft8_lib (github.com/kgoba/ft8_lib, test/wav and test/wav/20m_busy: 69 files).
# jt9 comes with Debian's `wsjtx` package (`apt-get install wsjtx`). Each preset's
# line: decodes in the raw audio, how many of the same messages (file and text) are still decoded
# after the preset, and how many new ones appear. Needs the release binary (cargo build --release).
set -euo pipefail
dir=${1:?usage: benches/weak_signals.sh DIR [PRESET...]}
shift
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(cw voice am)
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SPECGATE:-$here/target/release/specgate}
command -v jt9 > /dev/null || { echo "weak_signals: jt9 not found (apt-get install wsjtx)" >&2; exit 2; }
[ -x "$bin" ] || { echo "weak_signals: $bin missing (cargo build --release)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shopt -s nullglob
files=("$dir"/*.wav)
[ ${#files[@]} -gt 0 ] || { echo "weak_signals: no .wav in $dir" >&2; exit 2; }

# decode OUT FILES… : one line "file<TAB>message" per decode (jt9 works in its own directory).
decode() {
    local out=$1; shift
    : > "$out"
    mkdir -p "$work/jt9"
    for f in "$@"; do
        (cd "$work/jt9" && jt9 -8 -d 3 "$f") | grep '~' |
            sed -e 's/^.*~ *//' -e 's/ *$//' -e "s|^|$(basename "$f")\t|" >> "$out"
    done
    sort -u -o "$out" "$out"
}

decode "$work/raw" "${files[@]}"
echo "raw: $(wc -l < "$work/raw") decodes in ${#files[@]} recordings"
for p in "${presets[@]}"; do
    mkdir -p "$work/$p"
    out=()
    for f in "${files[@]}"; do
        "$bin" filter "$f" -o "$work/$p/$(basename "$f")" --preset "$p" -q 2> /dev/null
        out+=("$work/$p/$(basename "$f")")
    done
    decode "$work/$p.txt" "${out[@]}"
    kept=$(comm -12 "$work/raw" "$work/$p.txt" | wc -l)
    new=$(comm -13 "$work/raw" "$work/$p.txt" | wc -l)
    awk -v p="$p" -v k="$kept" -v n="$(wc -l < "$work/raw")" -v x="$new" \
        'BEGIN { printf "%s: kept %d of %d (%.1f %%), new %d\n", p, k, n, 100 * k / n, x }'
done
