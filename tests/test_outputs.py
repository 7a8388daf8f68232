"""Output that survives: several formats in one run, documents written as they are decoded
(Ctrl-C keeps them), one meaning of -o/--format in every command, no file replaced
without --force."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import EN, deadline, read_wav
from test_cli import CLI, _env, ok, run

from livewhisper.cli.outputs import OutputRuleError, format_list, live_output, output_paths

srt = pytest.importorskip("srt", reason="pip install srt (the test extra has it)")
webvtt = pytest.importorskip("webvtt", reason="pip install webvtt-py (the test extra has it)")

MODEL = "tiny.en-q8_0"
FORMATS = ("txt", "srt", "vtt", "json", "jsonl")


# -- the rules, without a model --------------------------------------------------------------


def test_output_paths_follow_one_rule() -> None:
    assert output_paths(Path("a.srt"), None, FORMATS) == [(Path("a.srt"), "srt")]
    assert output_paths(Path("a.log"), ("jsonl",), FORMATS) == [(Path("a.log"), "jsonl")]
    assert output_paths(Path("a.log"), None, FORMATS) == [(Path("a.log"), "txt")]
    assert output_paths(Path("out/a"), ("srt", "json"), FORMATS) == [
        (Path("out/a.srt"), "srt"),
        (Path("out/a.json"), "json"),
    ]
    with pytest.raises(OutputRuleError, match="named .srt but --format is vtt"):
        output_paths(Path("a.srt"), ("vtt",), FORMATS)
    with pytest.raises(OutputRuleError, match="without extension"):
        output_paths(Path("a.srt"), ("srt", "vtt"), FORMATS)
    assert format_list(FORMATS)("SRT, vtt,srt") == ("srt", "vtt")


def test_live_output_refuses_json_and_existing_files(tmp_path: Path) -> None:
    with pytest.raises(OutputRuleError, match="jsonl"):
        live_output(tmp_path / "notes.json", None, force=False)
    taken = tmp_path / "notes.srt"
    taken.write_text("keep me\n")
    with pytest.raises(OutputRuleError, match="already exists"):
        live_output(taken, None, force=False)
    assert live_output(taken, None, force=True) == (taken, "srt")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["{jfk}", "-o", "{tmp}/a.srt", "-f", "vtt"], "named .srt but --format is vtt"),
        (["{jfk}", "{jfk}", "-f", "srt"], "invalid document"),
        (["{jfk}", "-f", "srt,vtt"], "need -o NAME or --output-dir"),
        (["{jfk}", "{jfk}", "-o", "{tmp}/a.txt"], "--output-dir"),
        (["{jfk}", "-o", "{tmp}/taken.txt"], "already exists: --force"),
        (["{jfk}", "-f", "srt,docx"], "invalid choice: 'docx'"),
    ],
)
def test_transcribe_refuses_before_decoding(tmp_path: Path, args: list[str], words: str) -> None:
    (tmp_path / "taken.txt").write_text("earlier notes\n")
    filled = [a.format(jfk=EN / "jfk.wav", tmp=tmp_path) for a in args]
    result = run("transcribe", *filled, "--model", MODEL)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "taken.txt").read_text() == "earlier notes\n"


@pytest.mark.parametrize("command", ["dictate", "listen"])
def test_live_commands_share_the_rules(tmp_path: Path, command: str) -> None:
    taken = tmp_path / "notes.srt"
    taken.write_text("earlier notes\n")
    refused = run(command, "--input", EN / "jfk.wav", "-o", taken)
    assert refused.returncode == 2 and "already exists" in refused.stderr, refused.stderr
    wrong = run(command, "--input", EN / "jfk.wav", "-o", tmp_path / "n.vtt", "-f", "srt")
    assert wrong.returncode == 2 and "named .vtt but --format is srt" in wrong.stderr
    whole = run(command, "--input", EN / "jfk.wav", "-o", tmp_path / "n.json")
    assert whole.returncode == 2 and "jsonl" in whole.stderr
    assert taken.read_text() == "earlier notes\n" and not (tmp_path / "n.vtt").exists()


# -- real runs -------------------------------------------------------------------------------


@pytest.mark.slow
def test_several_formats_in_one_run(model_cache: Path, tmp_path: Path) -> None:
    ok(run("transcribe", EN / "jfk.wav", "-f", "srt,vtt,txt,json,jsonl", "-o", tmp_path / "jfk"))
    text = (tmp_path / "jfk.txt").read_text()
    assert "ask not what your country" in text.lower()
    cues = list(srt.parse((tmp_path / "jfk.srt").read_text()))
    assert " ".join(c.content.replace("\n", " ") for c in cues) == " ".join(text.split())
    assert len(list(webvtt.read(str(tmp_path / "jfk.vtt")))) == len(cues)
    doc = json.loads((tmp_path / "jfk.json").read_text())
    lines = (tmp_path / "jfk.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in lines] == [s["text"] for s in doc["segments"]]
    assert not list(tmp_path.glob(".*.part"))
    # Again: refused, then replaced with --force.
    again = run("transcribe", EN / "jfk.wav", "-f", "srt,txt", "-o", tmp_path / "jfk")
    assert again.returncode == 2 and "jfk.srt, " in again.stderr
    ok(run("transcribe", EN / "jfk.wav", "-f", "srt,txt", "-o", tmp_path / "jfk", "--force"))


@pytest.mark.slow
def test_ctrl_c_keeps_what_was_transcribed(model_cache: Path, tmp_path: Path) -> None:
    """A long file, interrupted once its first segments are out: every document holds
    them and parses; none is empty."""
    clips = [read_wav(EN / f"{n}.wav") for n in ("mfa_cold_corpus", "mfa_acoustic_corpus")]
    long = tmp_path / "long.wav"
    soundfile.write(long, np.concatenate(clips * 6), 16000, subtype="PCM_16")  # 5 min
    base = tmp_path / "out" / "long"
    process = subprocess.Popen(
        [*CLI, "transcribe", str(long), "--model", MODEL, "-f", "srt,vtt,txt,jsonl,json",
         "-o", str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    txt = base.with_name("long.txt")
    give_up = time.monotonic() + deadline(240)
    while not (txt.exists() and len(txt.read_text().splitlines()) >= 2):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < give_up, "no segment written"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=deadline(120))
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    lines = txt.read_text().splitlines()
    assert len(lines) >= 2
    assert len(list(srt.parse(base.with_name("long.srt").read_text()))) >= 2
    assert len(list(webvtt.read(str(base.with_name("long.vtt"))))) >= 2
    doc = json.loads(base.with_name("long.json").read_text())
    assert len(doc["segments"]) >= len(lines)
    assert all(p.stat().st_size > 0 for p in base.parent.iterdir())
