#!/usr/bin/env bash
# Install WhisperLive 0.10.0 (faster_whisper backend, CPU) in its own virtualenv,
# .venv-peers/whisperlive, for `python -m benchmarks peers`. The project's environment is
# not touched.
#
# whisper-live declares torch, torchaudio, openvino, openai-whisper, librosa, CUDA libraries
# and more; its websocket server with the faster_whisper backend imports only these:
#   faster-whisper (1.2.0, its pin; brings ctranslate2, tokenizers, onnxruntime, av,
#   huggingface-hub, tqdm), websockets, fastapi + uvicorn (imported at module level even
#   with the REST API off), numpy, onnxruntime (whisper_live.vad), and torch (imported at
#   module level, used only for torch.cuda.is_available()).
# Server-side VAD uses faster-whisper's bundled Silero ONNX files: nothing is downloaded.
#
# torch must be a CPU build: by default torch==2.13.0 (as the project's `finetune` extra),
# which pip finds as 2.13.0+cpu in this machine's local wheels. Elsewhere, point pip at a
# CPU build, e.g. TORCH_SPEC=torch PIP_EXTRA_INDEX_URL=<PyTorch CPU index>. The script
# stops before downloading a CUDA build.
#
# Usage: bash scripts/peer-whisperlive.sh        (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-peers/whisperlive
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
# whisper-live's own pins for the packages it needs here.
PACKAGES=(
  "faster-whisper==1.2.0"
  "tokenizers==0.20.3"
  "numpy>=1.26.4,<2.5"
  "onnxruntime>=1.20.0,<2"
  "websockets"
  "fastapi"
  "uvicorn"
)

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip

# Refuse a CUDA torch before downloading it (gigabytes of NVIDIA libraries).
chosen=$("${PIP[@]}" install --dry-run --ignore-installed --no-deps --quiet --report - \
  "$TORCH_SPEC" | "$VENV/bin/python" -c \
  'import json, sys; print(" ".join(i["metadata"]["version"] for i in json.load(sys.stdin)["install"]))')
case "$chosen" in
  *+cpu*) ;;
  *)
    echo "pip would install torch $chosen, not a CPU build; set TORCH_SPEC and" \
      "PIP_EXTRA_INDEX_URL to a CPU wheel (see the top of this script)" >&2
    exit 1
    ;;
esac

"${PIP[@]}" install -q "$TORCH_SPEC" "${PACKAGES[@]}"
"${PIP[@]}" install -q --no-deps "whisper-live==0.10.0"

# The import path the benchmark uses, without network access.
HF_HUB_OFFLINE=1 "$VENV/bin/python" -c '
import importlib.metadata as md
import torch
from whisper_live.server import TranscriptionServer  # noqa: F401
from whisper_live.backend.faster_whisper_backend import ServeClientFasterWhisper  # noqa: F401
assert torch.version.cuda is None, "torch is a CUDA build"
names = ("whisper-live", "faster-whisper", "ctranslate2", "onnxruntime", "torch", "websockets")
print("WhisperLive peer ready:", ", ".join(f"{n} {md.version(n)}" for n in names))
'
