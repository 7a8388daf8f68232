"""What an import costs: the client and the algorithms load no server, worker or engine.

The imports run in a fresh interpreter, so that what this test session has loaded does
not hide what a module pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from conftest import deadline

import livewhisper

# What a light import must never load: the streaming worker, whisper.cpp, the web stack,
# the fine-tuning stack.
HEAVY = {
    "livewhisper.dictation",
    "livewhisper.transcriber",
    "livewhisper.filetranscribe",
    "pywhispercpp",
    "_pywhispercpp",
    "uvicorn",
    "starlette",
    "torch",
    "transformers",
}

# The algorithms and the plain data they take: pure functions over arrays and strings.
LIGHT = [
    "livewhisper",
    "livewhisper.errors",
    "livewhisper.events",
    "livewhisper.languages",
    "livewhisper.agreement",
    "livewhisper.segmenter",
    "livewhisper.guards",
    "livewhisper.wer",
    "livewhisper.vad",
    "livewhisper.gate",
    "livewhisper.policy",
    "livewhisper.lag",
    "livewhisper.formats",
    "livewhisper.models.names",
    "livewhisper.audio.ring",
    "livewhisper.audio.resample",
]

# The streaming and text rules, and the options they take: plain Python over arrays and
# strings, so they load no native code (whisper.cpp, PortAudio, FFmpeg, libsoxr), no
# engine, no audio I/O and nothing of the server. (webrtcvad, the VAD's own small C
# library, is allowed: the policy's gate runs it.)
ALGORITHMS = [
    "livewhisper.options",
    "livewhisper.policy",
    "livewhisper.agreement",
    "livewhisper.segmenter",
    "livewhisper.guards",
    "livewhisper.wer",
    "livewhisper.lag",
    "livewhisper.subtitles",
    "livewhisper.commands",
    "livewhisper.pcm",
]
NATIVE = {"pywhispercpp", "_pywhispercpp", "sounddevice", "_sounddevice", "av", "soxr"}


def _run_fresh(code: str) -> Any:
    """Run ``code`` in a fresh interpreter; the JSON it printed last."""
    done = subprocess.run(
        [sys.executable, "-c", f"import json, sys\n{code}"],
        capture_output=True,
        text=True,
        timeout=deadline(120),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-800:]
    return json.loads(done.stdout.splitlines()[-1])


def _loaded_by(statement: str) -> set[str]:
    return set(_run_fresh(f"{statement}\nprint(json.dumps(sorted(sys.modules)))"))


def _loaded_by_each(modules: list[str]) -> dict[str, set[str]]:
    """What importing each of ``modules`` in turn adds to ``sys.modules``, in one fresh
    interpreter: a module is charged with what it loads first, so the union is what they
    load between them."""
    added = _run_fresh(
        "import importlib\n"
        "added = {}\n"
        f"for name in {modules!r}:\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    added[name] = sorted(set(sys.modules) - before)\n"
        "print(json.dumps(added))"
    )
    return {name: set(loaded) for name, loaded in added.items()}


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY)


def _server(loaded: set[str]) -> list[str]:
    return sorted(
        m for m in loaded if m == "livewhisper.server" or m.startswith("livewhisper.server.")
    )


def test_the_light_modules_load_no_server_worker_or_engine() -> None:
    loaded = _loaded_by_each(LIGHT)
    assert {name: _heavy(added) + _server(added) for name, added in loaded.items()} == {
        name: [] for name in LIGHT
    }


def test_the_algorithms_load_no_native_code_engine_audio_or_server() -> None:
    def unwanted(added: set[str]) -> list[str]:
        native = sorted(m for m in added if m.split(".")[0] in NATIVE)
        ours = sorted(added & {"livewhisper.engine", "livewhisper.audio"})
        return native + ours + _server(added)

    loaded = _loaded_by_each(ALGORITHMS)
    assert {name: unwanted(added) for name, added in loaded.items()} == {
        name: [] for name in ALGORITHMS
    }


def test_the_client_loads_the_protocol_and_nothing_of_the_server() -> None:
    # The protocol's messages are the one thing client and server share, and it lives
    # outside the server's package.
    loaded = _loaded_by("import livewhisper.client")
    assert _heavy(loaded) == []
    assert _server(loaded) == []
    assert "livewhisper.protocol" in loaded
    assert "livewhisper.engine" not in loaded  # a client decodes nothing


def test_the_package_alone_loads_no_engine_audio_or_model_tools() -> None:
    loaded = _loaded_by("import livewhisper")
    assert not {"livewhisper.engine", "livewhisper.audio", "livewhisper.models.resolve"} & loaded


def test_the_heavy_names_load_on_first_use() -> None:
    loaded = _loaded_by("import livewhisper\nlivewhisper.Dictation")
    assert {"livewhisper.dictation", "livewhisper.engine"} <= loaded
    assert "_pywhispercpp" not in loaded  # whisper.cpp itself waits for an Engine
    for name in livewhisper.__all__:
        assert getattr(livewhisper, name) is not None, name
    assert set(livewhisper.__all__) <= set(dir(livewhisper))
    with pytest.raises(AttributeError, match="no attribute 'Dictatoin'"):
        livewhisper.Dictatoin  # type: ignore[attr-defined]  # noqa: B018
