"""The ``livewhisper`` command run for real: subprocesses, real files, a terminal, a mic.

Every command runs as ``python -m livewhisper.cli.main`` in a subprocess with the session's
model cache (LIVEWHISPER_HOME from conftest's ``model_cache``), so what is tested is what a
user runs: argument parsing, exit status, stdout, stderr and files.
"""

from __future__ import annotations

import doctest
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audio_fixtures import PulseServer, fixture_pulse_server  # noqa: F401
from conftest import EN, deadline, read_wav, reference

from livewhisper.cli import render
from livewhisper.cli.main import main
from livewhisper.cli.render import LiveView
from livewhisper.events import Final, Word
from livewhisper.filetranscribe import split_utterances
from livewhisper.formats import CueWriter
from livewhisper.models.resolve import resolve
from livewhisper.wer import corpus_wer, normalize, word_error_rate

MODEL = "tiny.en-q8_0"
CLI = [sys.executable, "-m", "livewhisper.cli.main"]
# Clips that the default model transcribes almost perfectly, so that a loose WER bound
# still catches real mistakes (a lost clip, clips in the wrong order, a cut word).
LONG_CLIPS = ["jfk", "ps_0870", "libri_61-70968-0000", "ps_0920", "ps_0890", "ps_0930", "ps_0880"]
GAP = 2.5


@pytest.fixture(scope="module")
def model(model_cache: Path) -> str:
    """The default model, prepared once here rather than by two subprocesses at once."""
    resolve(MODEL, progress=False)
    return MODEL


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Clips in other formats, and longer files made of several clips with pauses."""
    if not shutil.which("sox") or not shutil.which("ffmpeg"):
        pytest.fail("sox and ffmpeg are needed: apt-get install sox ffmpeg")
    out = tmp_path_factory.mktemp("media")
    subprocess.run(["sox", str(EN / "ps_0930.wav"), str(out / "ps_0930.flac")], check=True)
    for name, ext in (("libri_61-70968-0000", "ogg"), ("ps_0920", "mp3")):
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(EN / f"{name}.wav"),
                str(out / f"{name}.{ext}"),
            ],
            check=True,
        )
    _concatenate(out / "long.wav", LONG_CLIPS)
    _concatenate(out / "two.wav", ["ps_0930", "libri_61-70968-0000"])
    _concatenate(out / "three.wav", ["ps_0930", "jfk", "ps_0870"])
    (out / "not-audio.wav").write_text("this is text, not a RIFF file\n")
    return out


def _concatenate(path: Path, names: Sequence[str]) -> None:
    """Write the clips one after another, after 0.5 s and each followed by GAP s of silence."""
    parts = [np.zeros(int(0.5 * 16000), np.float32)]
    for name in names:
        parts += [read_wav(EN / f"{name}.wav"), np.zeros(int(GAP * 16000), np.float32)]
    soundfile.write(path, np.concatenate(parts), 16000, subtype="PCM_16")


def _spans(names: Sequence[str]) -> list[tuple[float, float]]:
    """Where each clip lies in the file :func:`_concatenate` makes of them, in seconds."""
    spans = []
    t = 0.5
    for name in names:
        seconds = soundfile.info(str(EN / f"{name}.wav")).duration
        spans.append((t, t + seconds))
        t += seconds + GAP
    return spans


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONFAULTHANDLER="1")  # a hang prints its stacks: _interrupt
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _interrupt(process: subprocess.Popen[bytes], stderr: Path, timeout: float = 60) -> int:
    """Ctrl-C ``process`` and return its exit status; one that hangs is made to print
    every thread's stack (``PYTHONFAULTHANDLER`` in :func:`_env`) before the test fails."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=deadline(timeout))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=deadline(10))
        pytest.fail(f"no exit {deadline(timeout):.0f} s after Ctrl-C:\n{stderr.read_text()}")


def run(
    *args: str | Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the command line to its end."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=deadline(timeout),
        env=env or _env(),
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 0.1 s (each poll may run a command); fail after
    ``deadline(timeout)``."""
    give_up = time.monotonic() + deadline(timeout)
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"timed out after {deadline(timeout):g} s waiting for {what}")
        time.sleep(0.1)


_SRT_CUE = re.compile(
    r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+?)\n\n", re.S
)
_VTT_CUE = re.compile(
    r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(.+?)\n\n", re.S
)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """The cues of a SubRip document, checking that nothing in it is malformed."""
    cues = _SRT_CUE.findall(text)
    assert cues and "".join(m.group(0) for m in _SRT_CUE.finditer(text)) == text, text
    assert [int(c[0]) for c in cues] == list(range(1, len(cues) + 1))
    return [(_seconds(*c[1:5]), _seconds(*c[5:9]), c[9]) for c in cues]


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """The cues of a WebVTT document, checking its header and that nothing is malformed."""
    assert text.startswith("WEBVTT\n\n"), text
    body = text[len("WEBVTT\n\n") :]
    cues = _VTT_CUE.findall(body)
    assert cues and "".join(m.group(0) for m in _VTT_CUE.finditer(body)) == body, text
    return [(_seconds(*c[0:4]), _seconds(*c[4:8]), c[8]) for c in cues]


def assert_increasing(cues: Sequence[tuple[float, float, str]], duration: float) -> None:
    previous_end = 0.0
    for start, end, _ in cues:
        assert previous_end - 0.001 <= start <= end <= duration + 0.001, cues


# -- transcribe -------------------------------------------------------------------------


@pytest.mark.slow
def test_transcribe_flac_ogg_mp3_to_json(model: str, media: Path, tmp_path: Path) -> None:
    files = {
        "ps_0930": media / "ps_0930.flac",
        "libri_61-70968-0000": media / "libri_61-70968-0000.ogg",
        "ps_0920": media / "ps_0920.mp3",
    }
    ok(run("transcribe", *files.values(), "--format", "json", "--output-dir", tmp_path / "out"))
    for name, path in files.items():
        doc = json.loads((tmp_path / "out" / f"{path.stem}.json").read_text())
        assert doc["language"] == "en"
        assert word_error_rate(reference(name), doc["text"]) <= 0.2, (path.name, doc["text"])
        words = [w for s in doc["segments"] for w in s["words"]]
        assert words and all(0 <= w["start"] <= w["end"] <= doc["duration"] for w in words)
        assert "".join(w["word"] for w in words).strip() == doc["text"]


def test_transcribe_prints_text_and_goes_past_a_bad_file(model: str, media: Path) -> None:
    result = run("transcribe", media / "missing.wav", media / "ps_0930.flac")
    assert word_error_rate(reference("ps_0930"), result.stdout) <= 0.2, result.stdout
    assert result.stdout.endswith("\n") and "\x1b" not in result.stdout
    # The missing file is reported in one line and makes the status 1, after the others.
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"livewhisper: error: audio file not found: {media / 'missing.wav'}"
    ]


@pytest.mark.slow
def test_transcribe_long_file_through_the_segmenter_to_srt(model: str, media: Path) -> None:
    spans = _spans(LONG_CLIPS)
    duration = soundfile.info(str(media / "long.wav")).duration
    assert duration > 55
    result = ok(run("transcribe", media / "long.wav", "--format", "srt", timeout=240))
    cues = parse_srt(result.stdout)
    assert_increasing(cues, duration)
    pairs = []
    for name, (start, end) in zip(LONG_CLIPS, spans, strict=True):
        # The segmenter cuts at the pauses between clips and times are stream times, so
        # each clip's words are in the cues that lie within its span.
        text = " ".join(c[2] for c in cues if start - 0.5 <= (c[0] + c[1]) / 2 <= end + 0.5)
        pairs.append((reference(name), text))
        assert word_error_rate(reference(name), text) <= 0.3, (name, text)
    assert corpus_wer(pairs) <= 0.15


@pytest.mark.slow
def test_transcribe_vtt(model: str, media: Path) -> None:
    duration = soundfile.info(str(media / "two.wav")).duration
    cues = parse_vtt(ok(run("transcribe", media / "two.wav", "--format", "vtt")).stdout)
    assert_increasing(cues, duration)
    assert len(cues) >= 2 and cues[-1][0] >= _spans(["ps_0930", "libri_61-70968-0000"])[1][0] - 0.5
    text = " ".join(c[2] for c in cues)
    refs = reference("ps_0930") + " " + reference("libri_61-70968-0000")
    assert word_error_rate(refs, text) <= 0.2, text


# -- dictate ------------------------------------------------------------------------------


@pytest.mark.slow
def test_dictate_file_to_jsonl_and_pipe(model: str, media: Path, tmp_path: Path) -> None:
    out = tmp_path / "finals.jsonl"  # the format comes from the extension
    result = ok(run("dictate", "--input", media / "two.wav", "--speed", "4", "--output", out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) >= 2
    assert all(line["words"] for line in lines)
    starts = [line["start"] for line in lines]
    assert starts == sorted(starts)
    # Piped, stdout holds the finals only: one plain line each, no partials, no escapes.
    assert result.stdout.splitlines() == [line["text"] for line in lines]
    assert "\x1b" not in result.stdout
    refs = reference("ps_0930") + " " + reference("libri_61-70968-0000")
    assert word_error_rate(refs, result.stdout) <= 0.25, result.stdout
    assert "tiny.en-q8_0" in result.stderr and "language en" in result.stderr


@pytest.mark.slow
def test_dictate_ctrl_c_keeps_the_finals_and_exits_0(
    model: str, media: Path, tmp_path: Path
) -> None:
    out = tmp_path / "live.log"  # no format's extension: --format decides
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    # A short clip first, so that a final is out while most of the 30 s file is to come.
    args = ["dictate", "--input", str(media / "three.wav"), "--output", str(out), "-f", "srt"]
    # Started with SIGINT ignored, as a script starts a background job (`cmd &`): Ctrl-C
    # must stop it all the same (it played the file to its end before main() said so).
    ignoring = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]
    with stdout.open("w") as o, stderr.open("w") as e:
        process = subprocess.Popen([*ignoring, *CLI, *args], stdout=o, stderr=e, env=_env())
    try:
        wait_for(lambda: "-->" in _read(out), 60, "the first final in the output file")
        assert _interrupt(process, stderr) == 0, stderr.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    cues = parse_srt(out.read_text())
    assert_increasing(cues, 30.0)
    assert word_error_rate(reference("ps_0930"), cues[0][2]) <= 0.2, cues
    # The terminal shows the finals the file holds, one line each; the file's cues are
    # shaped for reading (a long final wraps, or takes several cues), so the words agree.
    shown = " ".join(stdout.read_text().split())
    assert shown == " ".join(" ".join(c[2].split()) for c in cues)
    assert "finishing" in stderr.read_text() and "Traceback" not in stderr.read_text()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


@pytest.mark.slow
def test_dictate_in_a_terminal_shows_dim_partials_then_the_final(
    model: str, media: Path, tmp_path: Path
) -> None:
    if not shutil.which("tmux"):
        pytest.fail("tmux is needed: apt-get install tmux")
    socket = tmp_path / "tmux.sock"
    tmux = ["tmux", "-S", str(socket)]
    output = tmp_path / "terminal.out"  # all that dictate writes to the terminal
    command = " ".join(
        [
            "read _;",  # wait until the recording below has begun
            f"LIVEWHISPER_HOME={os.environ['LIVEWHISPER_HOME']}",
            *CLI,
            "dictate",
            "--input",
            str(EN / "jfk.wav"),
            "--speed",
            "2",
            "; sleep 300",
        ]
    )
    subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "20", command], check=True)
    screens: list[str] = []

    def screen() -> str:
        shot = subprocess.run(
            [*tmux, "capture-pane", "-p", "-e", "-J"], capture_output=True, text=True, check=True
        ).stdout
        screens.append(shot)
        return shot

    try:
        # Every byte is recorded, so a partial replaced between two looks at the screen
        # still counts; the screen itself is read only once it has settled.
        subprocess.run([*tmux, "pipe-pane", "-o", f"cat >> {output}"], check=True)
        subprocess.run([*tmux, "send-keys", "Enter"], check=True)
        # The last words may first show dimmed (a partial after a final committed inside
        # the utterance): wait for them as a settled line.
        wait_for(
            lambda: "for your country" in normalize(shot := screen()) and "\x1b[2m" not in shot,
            90,
            "the final line",
        )
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
    written = output.read_text(errors="replace")
    assert "\x1b[2m" in written, "partial text is shown first, dimmed"
    partial = written[written.index("\x1b[2m") :]
    dimmed = normalize(partial.split("\x1b[2m", 1)[1].split("\x1b[0m")[0]).split()
    said = set(normalize(reference("jfk")).split())
    assert dimmed and sum(word in said for word in dimmed) >= len(dimmed) / 2, partial
    final = screens[-1]
    assert "\x1b[2m" not in final  # the partial was replaced, not left behind
    lines = [line for line in final.splitlines() if line.strip()]
    assert lines[0].startswith("livewhisper: tiny.en-q8_0, file jfk.wav at 2x")
    text = " ".join(lines[1:])
    assert word_error_rate(reference("jfk"), text) <= 0.15, final


@pytest.mark.slow
def test_dictate_from_the_virtual_microphone(
    model: str, pulse_server: PulseServer, tmp_path: Path
) -> None:
    env = _env(PULSE_SERVER=pulse_server.address)
    devices = ok(run("devices", env=env)).stdout
    assert "pulse" in devices and devices.startswith("* ")
    speech = tmp_path / "speech.wav"
    # Leading silence: the stream's first callback comes up to ~2 s after it opens.
    soundfile.write(
        speech, np.concatenate([np.zeros(32000, np.float32), read_wav(EN / "ps_0920.wav")]), 16000
    )
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("w") as o, stderr.open("w") as e:
        process = subprocess.Popen([*CLI, "dictate"], stdout=o, stderr=e, env=env)
    try:
        wait_for(lambda: "Ctrl-C to stop" in stderr.read_text(), 30, "the status line")
        assert "microphone" in stderr.read_text()
        subprocess.run(
            ["paplay", "-d", pulse_server.sink, str(speech)],
            check=True,
            timeout=deadline(60),
            env=env,
        )
        wait_for(lambda: "than he was" in normalize(stdout.read_text()), 60, "the final")
        assert _interrupt(process, stderr) == 0, stderr.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert word_error_rate(reference("ps_0920"), stdout.read_text()) <= 0.15, stdout.read_text()
    assert "Traceback" not in stderr.read_text()


# -- errors and help ----------------------------------------------------------------------

NO_MIC = {"PULSE_SERVER": None}

ERRORS = [
    # (arguments, environment changes, exit status, words of the message)
    (["transcribe", "missing.wav"], {}, 1, "audio file not found"),
    (["transcribe", "{media}/not-audio.wav"], {}, 1, "is not audio"),
    (["transcribe", "--model", "tiny-q3", "{media}/ps_0930.flac"], {}, 1, "unknown model"),
    (["transcribe", "--format", "docx", "{media}/ps_0930.flac"], {}, 2, "invalid choice"),
    (["transcribe", "--language", "xx", "{media}/ps_0930.flac"], {}, 1, "unknown language"),
    (["dictate", "--input", "missing.wav"], {}, 1, "audio file not found"),
    (["dictate", "--input", "{media}/ps_0930.flac", "--language", "es"], {}, 1, "English-only"),
    (["dictate", "--input", "{media}/ps_0930.flac", "-o", "/nonexistent/x.srt"], {}, 1, "No such"),
    (["dictate", "--speed", "2"], {}, 2, "--speed needs --input"),
    (["dictate", "--input", "{media}/ps_0930.flac", "--speed", "0"], {}, 2, "above 0"),
    (["dictate", "--threads", "many"], {}, 2, "not a whole number"),
    (["dictate"], NO_MIC, 1, "no default audio input device"),
    (["dictate", "--device", "7"], NO_MIC, 1, "no audio input device with index 7"),
    (["devices"], NO_MIC, 1, "No audio input devices found"),
]


@pytest.mark.parametrize(("args", "changes", "status", "message"), ERRORS)
def test_errors_are_one_line_and_a_non_zero_status(
    model: str,
    media: Path,
    tmp_path: Path,
    args: list[str],
    changes: dict[str, str | None],
    status: int,
    message: str,
) -> None:
    # No sound server to be found: an empty home and runtime directory, no PULSE_SERVER.
    env = _env(HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path), **changes)
    result = run(*[a.format(media=media) for a in args], env=env, timeout=60)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert lines[0].startswith("livewhisper")


@pytest.mark.parametrize("command", ["dictate", "transcribe", "devices", "models"])
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"livewhisper {command}" in capsys.readouterr().out.split("examples:")[1]


# -- the pieces, in process ---------------------------------------------------------------


def test_live_view_rewrites_partials_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "21")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    view = LiveView(out, live=True)
    view.partial("ask not")
    view.partial("ask not what your country can do")  # longer than the terminal
    view.final("Ask not what your country can do for you.")
    assert out.getvalue() == (
        "\r\x1b[K\x1b[2mask not\x1b[0m"
        "\r\x1b[K\x1b[2m…your country can do\x1b[0m"
        "\r\x1b[KAsk not what your country can do for you.\n"
    )
    piped = io.StringIO()
    plain = LiveView(piped, live=False)
    plain.partial("ask not")
    plain.final(" Ask not. ")
    assert piped.getvalue() == "Ask not.\n"
    assert doctest.testmod(render).failed == 0


def test_live_view_says_how_far_behind_the_text_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "41")
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    view = LiveView(out, live=True)
    view.partial("ask not")
    view.lag(4.2, True)
    view.partial("ask not what")
    view.lag(0.8, False)
    assert out.getvalue().split("\r\x1b[K")[1:] == [
        "ask not",
        "[4 s behind] ask not",
        "[4 s behind] ask not what",
        "ask not what",
    ]
    piped = io.StringIO()
    LiveView(piped, live=False).lag(4.2, True)
    assert piped.getvalue() == ""
    # Behind before any text: the note alone, no empty dim span for a partial.
    monkeypatch.delenv("NO_COLOR")
    early = io.StringIO()
    view = LiveView(early, live=True)
    view.lag(3.1, True)
    view.partial("and so")
    assert early.getvalue() == "\r\x1b[K[3 s behind] \r\x1b[K[3 s behind] \x1b[2mand so\x1b[0m"


@pytest.mark.parametrize("fmt", ["srt", "vtt", "jsonl", "txt"])
def test_cue_writer_leaves_a_whole_document_after_every_cue(fmt: str, tmp_path: Path) -> None:
    finals = [
        Final(" Hello there.", 0.5, 1.25, (Word(" Hello", 0.5, 0.8, 0.9),)),
        Final("  ", 2.0, 2.1),  # blank: skipped, and not numbered
        Final("General Kenobi.", 3.0, 4.5),
    ]
    path = tmp_path / f"out.{fmt}"
    with path.open("w", encoding="utf-8") as f:
        writer = CueWriter(f, fmt)
        for final in finals:
            writer.write(final)
            text = path.read_text()  # what a crash right now would leave
            if fmt == "srt":
                assert_increasing(parse_srt(text), 10)
            elif fmt == "vtt":
                assert_increasing(parse_vtt(text), 10)
    text = path.read_text()
    if fmt == "jsonl":
        docs = [json.loads(line) for line in text.splitlines()]
        assert [d["text"] for d in docs] == ["Hello there.", "General Kenobi."]
        assert docs[0]["words"][0]["word"] == " Hello"
    elif fmt == "txt":
        assert text == "Hello there.\nGeneral Kenobi.\n"
    else:
        assert writer.count == 2
    with pytest.raises(ValueError, match="json"):
        CueWriter(io.StringIO(), "json")


def test_split_utterances_cuts_at_the_pauses_between_clips(media: Path) -> None:
    audio = soundfile.read(str(media / "long.wav"), dtype="float32")[0]
    utterances = list(split_utterances(audio))
    spans = _spans(LONG_CLIPS)
    # Each utterance lies inside one clip (a clip may hold several: JFK pauses 0.9 s).
    owners = [
        [i for i, (start, end) in enumerate(spans) if start - 0.5 <= u.start < u.end <= end + 0.5]
        for u in utterances
    ]
    assert all(len(owner) == 1 for owner in owners), utterances
    assert sorted({owner[0] for owner in owners}) == list(range(len(spans)))  # none missed
