#!/usr/bin/env bash
# Install what the tests need (system packages, a virtualenv with livewhisper[test]) and run
# every check: ruff, mypy and the whole pytest suite. Usage: bash scripts/test.sh [PYTEST ARGS]
# The fast loop: bash scripts/test.sh -m "not slow" (every module, a few minutes; the
# tests marked slow take seconds each: real-time audio, browser, microphone, training).
# LIVEWHISPER_TEST_TIME_SCALE=3 triples every timeout in the tests (a slow or busy machine).
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
.venv/bin/python -m pytest -q --durations=25 "$@"
