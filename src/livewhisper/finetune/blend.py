"""Weight-space blending: keep part of the fine-tuned change, forget less.

A model fine-tuned on a few dozen sentences of one voice learns their names and words,
and also drifts at everything else (it writes "Zsick Quorpis" for "sick corpus"). Moving
its weights part of the way back towards the base model's keeps most of what it learnt
and most of what it knew: WiSE-FT (Wortsman et al., *Robust fine-tuning of zero-shot
models*, CVPR 2022) interpolates ``base + alpha * (tuned - base)`` with one ``alpha`` for
every tensor. ``livewhisper finetune`` tries :data:`BLENDS` from the whole change down to
the first whose WER on general speech stays within
:data:`~livewhisper.finetune.general.MAX_WER_RISE` of the base model's
(:func:`choose_blend`, which can also bisect towards the larger share before it).

Measured (``python -m benchmarks vocabulary``-style, tiny.en fine-tuned with the defaults
on 40 names sentences, 2026-12-01, docs/finetune.md): key-term errors on 30 new names
sentences 100% (base) -> 1.6% (``alpha`` 1) / 19.0% (0.35) / 50.8% (0.25); WER on the 19
real clips of ``tests/data/en`` 11.0% -> 17.9% / 10.4% / 11.0%.

Example::

    base = {k: v.clone() for k, v in model.state_dict().items()}
    ...  # train
    model.load_state_dict(blend_state(base, model.state_dict(), 0.5))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livewhisper.errors import ConfigError

__all__ = ["BLENDS", "REFINE_STEPS", "blend_state", "check_blend", "choose_blend"]

BLENDS = (1.0, 0.7, 0.5, 0.35, 0.25)
"""The shares of the fine-tuned change tried, largest first."""

REFINE_STEPS = 0
"""Bisection steps between the first share that keeps general speech and the larger one
before it that did not (:func:`choose_blend`), by default none. Each costs one export
and one decode of the general clips and narrows the gap (0.15 between 0.5 and 0.35) by
half, but the 295 words of the bundled clips cannot tell the shares in that gap apart:
0.35 and 0.425 both read 8.6% there, while on the 19 clips of ``tests/data/en`` 0.35
read 8.8% and 0.425 10.7% against 9.4% for the base model (docs/finetune.md, session 23).
Since the model's terms (:mod:`~livewhisper.finetune.terms`) meet the key-term aim at
0.35, the shares of :data:`BLENDS` are enough."""


def check_blend(alpha: float) -> float:
    """``alpha`` if it is a share of the fine-tuned change in (0, 1]; else ConfigError.

    Example:
        >>> check_blend(0.5)
        0.5
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha <= 1:
        raise ConfigError(
            f"the blend must be a share of the fine-tuned change in (0, 1], not {alpha!r}"
        )
    return float(alpha)


def blend_state(base: Mapping[str, Any], tuned: Mapping[str, Any], alpha: float) -> dict[str, Any]:
    """The state dict ``base + alpha * (tuned - base)``: floating-point tensors (torch)
    interpolated, the others (integer buffers) taken from ``tuned``. Both must hold the
    same names. ``alpha`` 1 is ``tuned``, 0 ``base``.

    Raises ConfigError for an ``alpha`` outside (0, 1] or states of different models.
    """
    check_blend(alpha)
    if base.keys() != tuned.keys():
        raise ConfigError("the base and fine-tuned weights are of different models")
    return {
        name: base[name] + alpha * (value - base[name]) if value.is_floating_point() else value
        for name, value in tuned.items()
    }


def choose_blend(
    before: float,
    wer_at: Callable[[float], float],
    max_rise: float,
    candidates: Sequence[float] = BLENDS,
    refine: int = REFINE_STEPS,
) -> tuple[float, list[tuple[float, float]]]:
    """The largest share whose general-speech WER ``wer_at(alpha)`` is at most ``before +
    max_rise`` (WERs as fractions): ``candidates`` are tried largest first up to the first
    that passes, then ``refine`` bisection steps between it and the one before it (which
    did not pass) look for a larger share that passes too. When no candidate passes, the
    one with the lowest WER (the larger on a tie). Returns the share and every ``(alpha,
    wer)`` measured, in order.

    Example:
        >>> wers = {1.0: 0.18, 0.7: 0.15, 0.5: 0.11, 0.35: 0.10}
        >>> choose_blend(0.11, wers.__getitem__, 0.01, (1.0, 0.7, 0.5, 0.35), refine=0)
        (0.5, [(1.0, 0.18), (0.7, 0.15), (0.5, 0.11)])
        >>> choose_blend(0.11, lambda a: 0.11 if a < 0.7 else 0.15, 0.01, (1.0, 0.5), refine=2)
        (0.625, [(1.0, 0.15), (0.5, 0.11), (0.75, 0.15), (0.625, 0.11)])
    """
    tried: list[tuple[float, float]] = []

    def passes(alpha: float) -> bool:
        tried.append((alpha, wer_at(alpha)))
        return tried[-1][1] <= before + max_rise

    failed: float | None = None
    for alpha in sorted(candidates, reverse=True):
        if not passes(alpha):
            failed = alpha
            continue
        if failed is not None:  # else the whole change passed: nothing larger to look for
            for _ in range(refine):
                middle = round((alpha + failed) / 2, 3)
                alpha, failed = (middle, failed) if passes(middle) else (alpha, middle)
        return alpha, tried
    best = min(tried, key=lambda t: (t[1], -t[0]))
    return best[0], tried
