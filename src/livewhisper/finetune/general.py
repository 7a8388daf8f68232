"""General speech bundled with livewhisper: what a fine-tuned model must not forget.

Ten clips of real English speech (118 s, 295 words; read and spontaneous; public
domain, CC-BY-4.0 and MIT, see ``general/README.md``) ship inside the package, so every
``livewhisper finetune`` measures the word error rate on ordinary speech before and
after training, on any machine.

Example::

    clips = general_set()                  # 10 Examples
    before = wer_of(clips, transcribe_engine("tiny.en-q8_0", clips), drop_fillers=True)
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from livewhisper.finetune.data import Example, read_dataset

__all__ = ["GENERAL_DIR", "MAX_WER_RISE", "forgetting_warning", "general_set"]

GENERAL_DIR = Path(str(files("livewhisper.finetune") / "general"))
"""Where the bundled clips and their ``manifest.tsv`` are."""

MAX_WER_RISE = 0.01
"""How much worse (1 WER point) general speech may get before fine-tuning warns."""


def general_set() -> list[Example]:
    """The bundled general-speech clips, with their transcripts.

    Example::

        sum(e.seconds or 0 for e in general_set())   # about 118
    """
    return read_dataset(GENERAL_DIR)


def forgetting_warning(before: float, after: float) -> str | None:
    """The warning to give when general speech got worse by more than :data:`MAX_WER_RISE`.

    Example:
        >>> forgetting_warning(0.10, 0.105) is None
        True
        >>> print(forgetting_warning(0.10, 0.13))  # doctest: +ELLIPSIS
        warning: the fine-tuned model is worse at ordinary speech by 3.0 WER points ...
    """
    if after - before <= MAX_WER_RISE:
        return None
    return (
        f"warning: the fine-tuned model is worse at ordinary speech by "
        f"{100 * (after - before):.1f} WER points (more than {100 * MAX_WER_RISE:g}): "
        "keep less of the fine-tuned change (--blend 0.25), train for fewer epochs "
        "(--epochs) or at a lower rate (--lr), or record ordinary sentences among yours "
        "(livewhisper record adds one after every two unless --ordinary 0)"
    )
