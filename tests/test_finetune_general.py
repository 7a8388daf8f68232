"""The general speech bundled for fine-tuning: inside the package, small, licensed, usable.

Whether fine-tuning measures it before and after is checked by the short end-to-end run
in test_finetune.py; the figures on the names benchmark are ``python -m benchmarks
vocabulary``.
"""

from __future__ import annotations

import csv

from livewhisper.finetune.data import MAX_SECONDS
from livewhisper.finetune.general import GENERAL_DIR, forgetting_warning, general_set


def test_the_general_set_ships_in_the_package_small_and_licensed() -> None:
    clips = general_set()
    assert len(clips) >= 8
    assert 60 < sum(c.seconds or 0 for c in clips) < 180
    assert all(c.text.strip() and 0 < (c.seconds or 0) <= MAX_SECONDS for c in clips)
    size = sum(p.stat().st_size for p in GENERAL_DIR.iterdir())
    assert size < 400_000  # a few hundred KB at most
    with (GENERAL_DIR / "manifest.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert {r["id"] for r in rows} == {c.id for c in clips}
    assert all(r["license"].strip() and r["source"].strip() for r in rows)
    assert "licen" in (GENERAL_DIR / "README.md").read_text(encoding="utf-8").lower()


def test_the_audio_decodes_to_speech() -> None:
    clip = next(c for c in general_set() if c.id == "jfk")
    audio = clip.audio()
    assert audio.dtype.name == "float32" and abs(audio.size / 16000 - 11.0) < 0.1
    assert 0.02 < float(abs(audio).mean()) < 0.5  # speech, not silence or noise at full scale


def test_forgetting_warns_past_one_point() -> None:
    assert forgetting_warning(0.12, 0.125) is None
    assert forgetting_warning(0.12, 0.10) is None
    warning = forgetting_warning(0.12, 0.15)
    assert warning is not None and "3.0 WER points" in warning and "--epochs" in warning
