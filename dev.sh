#!/usr/bin/env bash
# One entry point for a fresh Debian/Ubuntu machine that has only the Rust toolchain:
#   ./dev.sh demo   install what is missing, build, run the built-in demo
#   ./dev.sh test   install what is missing, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# System packages the build needs: ALSA headers for cpal (the live device path) and pkg-config;
# for the tests, Debian's ladspa-sdk (analyseplugin/applyplugin load the LADSPA plugin).
ensure_build_deps() {
  if pkg-config --exists alsa 2>/dev/null && command -v applyplugin >/dev/null; then return 0; fi
  echo "dev.sh: installing libasound2-dev, pkg-config (cpal device backend) and ladspa-sdk (plugin tests)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libasound2-dev pkg-config ladspa-sdk >/dev/null
}

# The Python package (python/): built and installed by pip (maturin) into a venv under target/,
# then its pytest suite, which compares against the CLI built by `cargo test`.
python_test() {
  local venv=target/pyenv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # maturin in the venv and no build isolation: rebuilds are incremental (pyo3 keeps its
  # interpreter); a user's plain `pip install ./python` fetches maturin itself.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2" pytest
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation ./python
  SPECGATE_BIN="$PWD/target/debug/specgate" "$venv/bin/python" -m pytest -q python/tests
}

case "${1:-}" in
  demo)
    ensure_build_deps
    cargo run --release --quiet -- demo --out "${2:-demo-out}"
    ;;
  test)
    ensure_build_deps
    # The live end-to-end tests need real, real-time-clocked audio devices: a private PulseAudio
    # server with null sinks (.ci/audio-rig.sh). Without it those tests print SKIPPED, unless
    # SPECGATE_REQUIRE_RIG=1 (CI), where a missing rig is a failure, not a skip.
    if [ "${SPECGATE_NO_RIG:-0}" != 1 ]; then
      # shellcheck source=.ci/audio-rig.sh
      source .ci/audio-rig.sh
      if { [ "$(id -u)" = 0 ] || command -v pulseaudio >/dev/null; } && audio_rig_install && audio_rig_start; then
        trap audio_rig_stop EXIT
      elif [ "${SPECGATE_REQUIRE_RIG:-0}" = 1 ]; then
        echo "dev.sh: SPECGATE_REQUIRE_RIG=1 but the audio rig did not start" >&2
        exit 1
      else
        echo "dev.sh: no audio rig (needs root to install pulseaudio); live end-to-end tests will be skipped" >&2
      fi
    fi
    # The plugin's tests load the built .so: `cargo test` alone builds only the rlib of a crate.
    cargo build --quiet -p specgate-ladspa
    cargo test --quiet
    python_test
    ;;
  *)
    echo "usage: ./dev.sh demo [DIR] | ./dev.sh test" >&2
    exit 2
    ;;
esac
