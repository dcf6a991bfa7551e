#!/usr/bin/env bash
# .ci/audio-rig.sh: a private audio server with virtual devices for specgate's live end-to-end tests.
# Adapted from the verified recipe in the team notes (audio-rig.md); null sinks run on the system
# monotonic clock in real time. Two servers, the same devices and the same harness tools
# (pactl/paplay/parec speak the PulseAudio protocol to either):
#   pulseaudio (default): PulseAudio 16; specgate reaches it with cpal's ALSA host via the ALSA
#              `pulse` plugin (AUDIO_RIG_CPAL_IN/OUT = alsa:rig_capture / alsa:rig_playback).
#   pipewire:  PipeWire + WirePlumber + pipewire-pulse and a private D-Bus session bus; specgate uses
#              cpal's native PipeWire host (AUDIO_RIG_CPAL_IN/OUT = pipewire:rig_in / pipewire:rig_out;
#              capturing a sink records its monitor). The ALSA PCMs below work here too.
# Usage (bash):  source .ci/audio-rig.sh; audio_rig_install [pipewire]; audio_rig_start [pipewire]
#                trap audio_rig_stop EXIT
#   rig_in          sink:   harness plays the stimulus here (paplay -d rig_in ...)   = channel FL of rig_bus
#   rig_in.monitor  source: program under test CAPTURES here (default source)
#   rig_out         sink:   program under test PLAYS here (default sink)            = channel FR of rig_bus
#   rig_bus.monitor source: 2 ch, L = stimulus as fed, R = program output, ONE clock (exact delay)
# ALSA PCMs for cpal's default ALSA host: rig_capture, rig_playback (also "default"/"pulse").
AUDIO_RIG_RATE=${AUDIO_RIG_RATE:-48000}

audio_rig_install() {
  if [ "${1:-pulseaudio}" = pipewire ]; then
    if command -v pipewire >/dev/null && command -v wireplumber >/dev/null \
       && command -v pipewire-pulse >/dev/null && command -v dbus-daemon >/dev/null \
       && command -v pactl >/dev/null; then return 0; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      pipewire pipewire-pulse wireplumber dbus pulseaudio-utils libasound2-plugins >/dev/null
    return 0
  fi
  if command -v pulseaudio >/dev/null && command -v pactl >/dev/null \
     && [ -e /usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so ] \
     && dpkg -s libasound2-dev pkg-config >/dev/null 2>&1; then return 0; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    pulseaudio pulseaudio-utils libasound2-plugins libasound2-dev pkg-config >/dev/null
}

# Starts the daemon on the rig's files; its pid goes to AUDIO_RIG_PA_PID and $AUDIO_RIG_DIR/pa.pid.
_audio_rig_daemon() {
  HOME=$AUDIO_RIG_DIR/home XDG_RUNTIME_DIR=$AUDIO_RIG_DIR/run PULSE_STATE_PATH=$AUDIO_RIG_DIR/home \
    pulseaudio -n -F "$AUDIO_RIG_DIR/rig.pa" --daemonize=no --system=false --use-pid-file=no \
      --exit-idle-time=-1 --disallow-exit --disable-shm=yes \
      --log-target=file:"$AUDIO_RIG_DIR/pulseaudio.log" --log-level="${AUDIO_RIG_LOG_LEVEL:-notice}" </dev/null >/dev/null 2>&1 &
  AUDIO_RIG_PA_PID=$!
  echo "$AUDIO_RIG_PA_PID" > "$AUDIO_RIG_DIR/pa.pid"
}

# The daemon's pid now (a test may have restarted it: see audio_rig_kill / audio_rig_revive).
_audio_rig_pid() { cat "${AUDIO_RIG_DIR:-/nonexistent}/pa.pid" 2>/dev/null || echo "${AUDIO_RIG_PA_PID:-}"; }

# Device loss for tests: kill the daemon (every client loses its devices at once) ...
audio_rig_kill() {
  local pid; pid=$(_audio_rig_pid)
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$AUDIO_RIG_DIR/run/native"
}
# ... and bring it back on the same socket and devices. Usable from a child shell (a test): the
# new pid is kept in $AUDIO_RIG_DIR/pa.pid, which audio_rig_stop reads.
audio_rig_revive() {
  _audio_rig_daemon
  for _ in $(seq 1 100); do pactl info >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "audio rig: pulseaudio did not come back" >&2; return 1
}

# The PipeWire stack: a private session bus (WirePlumber exits without one), the server, the
# session manager and the PulseAudio-protocol server, all with the rig's runtime dir and home.
# Their pids go to $AUDIO_RIG_DIR/pw.pids (stopped in reverse order).
_audio_rig_pipewire() {
  local d=$AUDIO_RIG_DIR i
  local env=(env HOME="$d/home" XDG_RUNTIME_DIR="$d/run" PIPEWIRE_RUNTIME_DIR="$d/run"
             DBUS_SESSION_BUS_ADDRESS="unix:path=$d/run/bus" PULSE_SERVER= PULSE_COOKIE=
             PIPEWIRE_LOG_LEVEL="${AUDIO_RIG_LOG_LEVEL:-2}")
  "${env[@]}" dbus-daemon --session --address="unix:path=$d/run/bus" --nofork --nopidfile \
    </dev/null >"$d/dbus.log" 2>&1 &
  echo $! > "$d/pw.pids"
  for i in $(seq 1 50); do [ -S "$d/run/bus" ] && break; sleep 0.1; done
  "${env[@]}" pipewire </dev/null >"$d/pipewire.log" 2>&1 &
  echo $! >> "$d/pw.pids"
  for i in $(seq 1 50); do [ -S "$d/run/pipewire-0" ] && break; sleep 0.1; done
  "${env[@]}" wireplumber </dev/null >"$d/wireplumber.log" 2>&1 &
  echo $! >> "$d/pw.pids"
  "${env[@]}" pipewire-pulse </dev/null >"$d/pipewire-pulse.log" 2>&1 &
  echo $! >> "$d/pw.pids"
}

audio_rig_start() {
  local server=${1:-pulseaudio}
  case $server in pulseaudio|pipewire) ;; *) echo "audio rig: unknown server '$server'" >&2; return 1;; esac
  AUDIO_RIG_DIR=$(mktemp -d /tmp/audio-rig.XXXXXX)
  mkdir -p "$AUDIO_RIG_DIR/run" "$AUDIO_RIG_DIR/home"
  local r=$AUDIO_RIG_RATE i
  cat > "$AUDIO_RIG_DIR/rig.pa" <<PA
load-module module-native-protocol-unix socket=$AUDIO_RIG_DIR/run/native auth-anonymous=1
load-module module-null-sink sink_name=rig_bus norewinds=1 format=float32le rate=$r channels=2 channel_map=front-left,front-right sink_properties=device.description=RigBus
load-module module-remap-sink sink_name=rig_in master=rig_bus format=float32le rate=$r channels=1 channel_map=mono master_channel_map=front-left remix=no sink_properties=device.description=RigIn
load-module module-remap-sink sink_name=rig_out master=rig_bus format=float32le rate=$r channels=1 channel_map=mono master_channel_map=front-right remix=no sink_properties=device.description=RigOut
set-default-source rig_in.monitor
set-default-sink rig_out
PA
  cat > "$AUDIO_RIG_DIR/asound.conf" <<ALSA
pcm.rig_capture  { type pulse device "rig_in.monitor" hint { show on description "Rig capture (rig_in.monitor)" } }
pcm.rig_playback { type pulse device "rig_out"        hint { show on description "Rig playback (rig_out)" } }
ALSA
  export AUDIO_RIG_DIR AUDIO_RIG_SERVER=$server
  export PULSE_COOKIE=$AUDIO_RIG_DIR/home/cookie          # keep clients out of ~/.config/pulse
  export ALSA_CONFIG_PATH=/usr/share/alsa/alsa.conf:$AUDIO_RIG_DIR/asound.conf
  export AUDIO_RIG_PA_IN=pulseaudio:rig_in.monitor AUDIO_RIG_PA_OUT=pulseaudio:rig_out  # for cpal "pulseaudio" host
  if [ "$server" = pipewire ]; then
    _audio_rig_pipewire
    export PIPEWIRE_RUNTIME_DIR=$AUDIO_RIG_DIR/run          # cpal's PipeWire host finds the server here
    export PULSE_SERVER=unix:$AUDIO_RIG_DIR/run/pulse/native
    export AUDIO_RIG_CPAL_IN=pipewire:rig_in AUDIO_RIG_CPAL_OUT=pipewire:rig_out
    for i in $(seq 1 100); do
      if pactl info >/dev/null 2>&1; then
        # The same devices as rig.pa, made through pipewire-pulse's module emulation.
        if grep '^load-module module-\(null\|remap\)-sink' "$AUDIO_RIG_DIR/rig.pa" | cut -d' ' -f2- |
             while read -r args; do pactl load-module $args >/dev/null || exit 1; done \
           && pactl set-default-source rig_in.monitor && pactl set-default-sink rig_out \
           && _audio_rig_wait_nodes; then
          return 0
        fi
        break
      fi
      sleep 0.1
    done
    echo "audio rig: pipewire did not come up; logs:" >&2
    tail -n 20 "$AUDIO_RIG_DIR"/{dbus,pipewire,wireplumber,pipewire-pulse}.log >&2
    audio_rig_stop; return 1
  fi
  _audio_rig_daemon
  export AUDIO_RIG_PA_PID
  export PULSE_SERVER=unix:$AUDIO_RIG_DIR/run/native     # pactl/parec/paplay, ALSA pulse plugin, cpal pulseaudio host
  export AUDIO_RIG_CPAL_IN=alsa:rig_capture AUDIO_RIG_CPAL_OUT=alsa:rig_playback        # cpal DeviceId strings
  for i in $(seq 1 100); do
    pactl info >/dev/null 2>&1 && return 0
    kill -0 "$AUDIO_RIG_PA_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "audio rig: pulseaudio did not come up; log:" >&2; cat "$AUDIO_RIG_DIR/pulseaudio.log" >&2
  audio_rig_stop; return 1
}

# PipeWire: the sinks exist as nodes (what cpal lists) once pactl lists them.
_audio_rig_wait_nodes() {
  local i
  for i in $(seq 1 50); do
    [ "$(pactl list short sinks | awk '$2 ~ /^rig_(bus|in|out)$/' | wc -l)" = 3 ] && return 0
    sleep 0.1
  done
  echo "audio rig: the rig's sinks did not appear" >&2; return 1
}

# Idle null sinks render 2 s ahead: call right after attaching the recorder so its data starts at once.
# (PipeWire: nothing to do; a suspend there disconnects the recorder.)
audio_rig_wake() {
  [ "${AUDIO_RIG_SERVER:-pulseaudio}" = pipewire ] && return 0
  pactl suspend-sink rig_bus 1 && pactl suspend-sink rig_bus 0
}

audio_rig_stop() {
  local pid i
  if [ -n "${AUDIO_RIG_DIR:-}" ] && [ -f "$AUDIO_RIG_DIR/pw.pids" ]; then
    for pid in $(tac "$AUDIO_RIG_DIR/pw.pids"); do
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  fi
  pid=$(_audio_rig_pid)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    wait "$pid" 2>/dev/null || true
  fi
  # The first daemon, if a test restarted it (it is this shell's child: reap it).
  if [ -n "${AUDIO_RIG_PA_PID:-}" ] && [ "${AUDIO_RIG_PA_PID}" != "$pid" ]; then
    # Already dead and reaped when a test killed it: kill fails, which must not fail a `set -e`
    # caller's EXIT trap (dev.sh).
    kill -KILL "$AUDIO_RIG_PA_PID" 2>/dev/null || true
    wait "$AUDIO_RIG_PA_PID" 2>/dev/null || true
  fi
  case ${AUDIO_RIG_DIR:-} in /tmp/audio-rig.*) rm -rf "$AUDIO_RIG_DIR";; esac
  unset AUDIO_RIG_PA_PID AUDIO_RIG_DIR AUDIO_RIG_SERVER PULSE_SERVER PULSE_COOKIE ALSA_CONFIG_PATH \
    PIPEWIRE_RUNTIME_DIR AUDIO_RIG_CPAL_IN AUDIO_RIG_CPAL_OUT AUDIO_RIG_PA_IN AUDIO_RIG_PA_OUT
  return 0
}
