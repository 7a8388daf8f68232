#!/usr/bin/env bash
# Install what the tests need (system packages, a virtualenv with livewhisper[test]) and run
# every check: ruff, mypy and the whole pytest suite. Usage: bash scripts/test.sh [PYTEST ARGS]
# The fast loop: bash scripts/test.sh -m "not slow" (every module, a few minutes; the
# tests marked slow take seconds each: real-time audio, browser, microphone, training).
# Tests run in LIVEWHISPER_TEST_WORKERS processes (default 2, pytest-xdist; 0 runs them in
# this one): most slow tests wait on real-time audio, so two share two cores well. Every
# timeout is doubled while they share it; LIVEWHISPER_TEST_TIME_SCALE sets the factor
# (3 triples them: a slow or busy machine).
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libportaudio2 pulseaudio pulseaudio-utils espeak-ng flite sox libsox-fmt-mp3 ffmpeg tmux chromium fonts-liberation xvfb xdotool python3-tk nginx sway foot wtype)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,finetune]"

.venv/bin/ruff check src tests benchmarks examples
.venv/bin/mypy
workers=${LIVEWHISPER_TEST_WORKERS:-2}
if [ "$workers" -gt 0 ]; then
  export LIVEWHISPER_TEST_TIME_SCALE=${LIVEWHISPER_TEST_TIME_SCALE:-2}
  .venv/bin/python -m pytest -q --durations=25 -n "$workers" --dist worksteal "$@"
else
  .venv/bin/python -m pytest -q --durations=25 "$@"
fi
