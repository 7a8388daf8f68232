"""Word error rate of a model on held-out examples, before and after fine-tuning.

Two ways to transcribe: the ``transformers`` model being trained (greedy ``generate``),
and a whisper.cpp file through livewhisper's streaming core (:class:`Dictation` fed the
clip as pushed audio, exactly as live dictation would see it). WER comes from
:mod:`livewhisper.wer` (case, punctuation and tags normalised).

Example::

    before = wer_of(held_out, transcribe_hf(whisper, held_out))
    after = wer_of(held_out, transcribe_streaming(Path("my-model"), held_out))
    print(wer_table([WerRow("tiny.en", "whisper.cpp", before), ...]))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livewhisper.dictation import Dictation
from livewhisper.engine import DecodeOptions, Engine
from livewhisper.events import Final
from livewhisper.finetune._deps import require_torch
from livewhisper.finetune.data import Collator, Example
from livewhisper.gate import StreamConfig
from livewhisper.wer import corpus_wer

__all__ = [
    "WerRow",
    "timed_wer",
    "transcribe_engine",
    "transcribe_hf",
    "transcribe_streaming",
    "wer_of",
    "wer_table",
]


@dataclass(frozen=True)
class WerRow:
    """One line of the before/after table: which model, decoded how, with what WER."""

    model: str
    backend: str
    wer: float
    seconds: float = 0.0


def wer_of(
    examples: Sequence[Example], hypotheses: Sequence[str], *, drop_fillers: bool = False
) -> float:
    """Corpus WER of ``hypotheses`` against the examples' transcripts (``drop_fillers``:
    leave "uh", "um"... out of both, for spontaneous speech).

    Example:
        >>> from pathlib import Path
        >>> wer_of([Example("a", "Meet Siobhan at noon", Path("a.wav"))], ["meet Shivon at noon"])
        0.25
    """
    pairs = zip((ex.text for ex in examples), hypotheses, strict=True)
    return corpus_wer(pairs, drop_fillers=drop_fillers)


def transcribe_hf(
    whisper: Any,
    examples: Sequence[Example],
    *,
    batch_size: int = 8,
    language: str | None = None,
) -> list[str]:
    """Greedy transcripts of ``examples`` by a ``transformers`` model (HFWhisper), in
    ``language`` (default: the model's) if it is multilingual."""
    torch = require_torch()
    collate = Collator(whisper)
    model = whisper.model
    was_training = model.training
    model.eval()
    texts: list[str] = []
    # Multilingual models are told the language and task; left alone they may loop.
    spoken = language or whisper.language
    prompt = {"language": spoken, "task": "transcribe"} if whisper.multilingual else {}
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = examples[i : i + batch_size]
            features = collate.features([ex.audio() for ex in batch])
            ids = model.generate(features, **prompt)
            decoded = whisper.tokenizer.batch_decode(ids, skip_special_tokens=True)
            texts += [t.strip() for t in decoded]
    if was_training:
        model.train()
    return texts


def transcribe_engine(
    model: str | Path | Engine,
    examples: Sequence[Example],
    *,
    language: str | None = None,
    threads: int = 2,
) -> list[str]:
    """Transcripts of ``examples`` by a whisper.cpp model, one clip per call (greedy).

    ``language`` is for multilingual models (None detects it); ``.en`` models use English.
    """
    engine = model if isinstance(model, Engine) else Engine(model, threads=threads)
    options = DecodeOptions(language=language if engine.multilingual else "en")
    try:
        return [engine.transcribe(ex.audio(), options).text.strip() for ex in examples]
    finally:
        if engine is not model:
            engine.close()


def transcribe_streaming(
    model: str | Path | Engine,
    examples: Sequence[Example],
    *,
    language: str | None = None,
    threads: int = 2,
    vocabulary: Sequence[str] = (),
) -> list[str]:
    """Transcripts of ``examples`` through the streaming core: VAD, segmenter, worker.

    Each clip is pushed into a :class:`~livewhisper.dictation.Dictation` (with a second
    of silence after it, as a speaker would pause) and its finals are joined.
    ``vocabulary`` steers the decoding toward those terms (:mod:`livewhisper.vocabulary`).
    """
    engine = model if isinstance(model, Engine) else Engine(model, threads=threads)
    if not engine.multilingual:
        language = "en"
    texts = []
    try:
        for ex in examples:
            finals: list[str] = []
            dictation = Dictation(
                engine,
                source="push",
                decode=DecodeOptions(language=language, vocabulary=tuple(vocabulary)),
                on_final=_collect_into(finals),
                stream=StreamConfig(partials=False),  # only finals count here
            )
            with dictation:
                dictation.feed(np.concatenate([ex.audio(), np.zeros(16000, dtype=np.float32)]))
                dictation.finish()
                if not dictation.wait(timeout=120):
                    raise TimeoutError(f"the streaming core took over 2 minutes on {ex.id}")
            texts.append(" ".join(t.strip() for t in finals if t.strip()))
    finally:
        if engine is not model:
            engine.close()
    return texts


def _collect_into(texts: list[str]) -> Callable[[Final], None]:
    return lambda final: texts.append(final.text)


def timed_wer(
    label: str,
    backend: str,
    examples: Sequence[Example],
    transcribe: Callable[[Sequence[Example]], list[str]],
    *,
    drop_fillers: bool = False,
) -> tuple[WerRow, list[str]]:
    """Run ``transcribe(examples)``; its :class:`WerRow` and the texts."""
    started = time.monotonic()
    texts = transcribe(examples)
    wer = wer_of(examples, texts, drop_fillers=drop_fillers)
    row = WerRow(label, backend, wer, round(time.monotonic() - started, 1))
    return row, texts


def wer_table(rows: Sequence[WerRow]) -> str:
    """The rows as a markdown table, with the relative change from the first row of each backend.

    Example:
        >>> rows = [WerRow("tiny.en", "whisper.cpp", 0.4), WerRow("tuned", "whisper.cpp", 0.1)]
        >>> print(wer_table(rows))
        | model | decoded by | WER | change |
        |---|---|---|---|
        | tiny.en | whisper.cpp | 40.0% |  |
        | tuned | whisper.cpp | 10.0% | -75% |
    """
    first: dict[str, float] = {}
    lines = ["| model | decoded by | WER | change |", "|---|---|---|---|"]
    for row in rows:
        change = ""
        if row.backend not in first:
            first[row.backend] = row.wer
        elif first[row.backend] > 0:
            change = f"{(row.wer - first[row.backend]) / first[row.backend]:+.0%}"
        lines.append(f"| {row.model} | {row.backend} | {row.wer:.1%} | {change} |")
    return "\n".join(lines)
