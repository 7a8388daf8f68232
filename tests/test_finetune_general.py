"""The general speech bundled for fine-tuning: inside the package, small, licensed, usable.

Whether fine-tuning measures it before and after is checked by the short end-to-end run
in test_finetune.py; the figures on the names benchmark are ``python -m benchmarks
vocabulary``.
"""

from __future__ import annotations

import csv

import pytest

from livewhisper.errors import ConfigError
from livewhisper.finetune.blend import blend_state, choose_blend
from livewhisper.finetune.data import MAX_SECONDS
from livewhisper.finetune.general import GENERAL_DIR, forgetting_warning, general_set
from livewhisper.finetune.train import TrainConfig


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
    assert "--blend" in warning


def test_blending_moves_every_float_weight_part_of_the_way_back() -> None:
    torch = pytest.importorskip("torch", reason="pip install 'livewhisper[finetune]'")
    base = {"w": torch.zeros(2, 3), "b": torch.ones(3), "steps": torch.tensor([4])}
    tuned = {"w": torch.full((2, 3), 2.0), "b": torch.ones(3) * 5, "steps": torch.tensor([9])}
    mixed = blend_state(base, tuned, 0.25)
    assert torch.equal(mixed["w"], torch.full((2, 3), 0.5))
    assert torch.equal(mixed["b"], torch.full((3,), 2.0))
    assert torch.equal(mixed["steps"], torch.tensor([9]))  # counters are not averaged
    assert blend_state(base, tuned, 1.0)["w"].equal(tuned["w"])
    with pytest.raises(ConfigError, match="different models"):
        blend_state(base, {"w": tuned["w"]}, 0.5)


def test_the_largest_blend_that_does_not_forget_is_kept() -> None:
    measured: list[float] = []

    def wer_at(alpha: float) -> float:
        measured.append(alpha)
        return {1.0: 0.20, 0.7: 0.16, 0.5: 0.125, 0.35: 0.12, 0.25: 0.12}[alpha]

    assert choose_blend(0.12, wer_at, 0.01, refine=0) == (
        0.5,
        [(1.0, 0.2), (0.7, 0.16), (0.5, 0.125)],
    )
    assert measured == [1.0, 0.7, 0.5]  # no decoding past the first that passes
    # Bisection between the first that passes and the one before it that did not.
    rising = {1.0: 0.2, 0.7: 0.16, 0.5: 0.125, 0.6: 0.15, 0.55: 0.125}
    assert choose_blend(0.12, rising.__getitem__, 0.01, refine=2) == (
        0.55,
        [(1.0, 0.2), (0.7, 0.16), (0.5, 0.125), (0.6, 0.15), (0.55, 0.125)],
    )
    assert choose_blend(0.2, rising.__getitem__, 0.01)[1] == [(1.0, 0.2)]  # nothing to refine
    # None passes: the one that forgets least, the larger on a tie.
    worse = {1.0: 0.3, 0.7: 0.25, 0.5: 0.2, 0.35: 0.2, 0.25: 0.22}
    assert choose_blend(0.1, worse.__getitem__, 0.01)[0] == 0.5


@pytest.mark.parametrize("share", [0, -0.5, 1.5, True, float("nan")])
def test_a_blend_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ConfigError, match="blend"):
        TrainConfig(blend=share)
    assert TrainConfig(blend=0.35).blend == 0.35
