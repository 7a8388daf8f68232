"""Fine-tuning data: read and check a data set, split it, turn batches into tensors.

A data set is a directory of ``NAME.wav`` + ``NAME.txt`` pairs (what ``livewhisper
record`` writes), or a ``manifest.tsv`` with at least the columns ``id``, ``wav`` (a path
relative to the manifest) and ``text``, like ``shared/data/manifest.tsv``. Audio is read
lazily, one batch at a time; only the headers are read up front, to check every file.
A Hugging Face data set can be streamed instead (:func:`stream_hub_dataset`), never
downloaded whole.

Nothing here needs PyTorch but :class:`Collator`, which imports it when called.

Example::

    examples = read_dataset(Path("my-voice"))          # DatasetError says what is wrong
    train, held_out = split_dataset(examples, 0.2, seed=0)
    batch = Collator(whisper)(train[:8])               # input_features, labels
"""

from __future__ import annotations

import csv
import io
import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from livewhisper.audio.decode import SAMPLE_RATE, AudioArray, as_mono_float32, load_audio
from livewhisper.errors import AudioError, DatasetError
from livewhisper.finetune._deps import require_datasets, require_torch
from livewhisper.models.cache import atomic_output

__all__ = [
    "MANIFEST",
    "MAX_SECONDS",
    "MIN_SECONDS",
    "Collator",
    "Example",
    "label_text",
    "read_dataset",
    "save_example",
    "split_dataset",
    "stream_hub_dataset",
    "write_manifest",
]

MANIFEST = "manifest.tsv"
"""The manifest file of a data set directory: tab-separated ``id``, ``wav``, ``text``, ..."""

MAX_SECONDS = 30.0
"""Longest clip: Whisper sees 30 s at once, and a longer clip's text would not fit it."""

MIN_SECONDS = 0.3
"""Shortest clip: anything shorter holds no word."""

_MAX_PROBLEMS_SHOWN = 5
_TEXT_COLUMNS = ("text", "sentence", "transcription", "transcript", "normalized_text")


@dataclass(frozen=True)
class Example:
    """One recorded sentence: its id, its transcript and where its audio comes from.

    ``source`` is a file path (read when needed) or a function returning 16 kHz mono
    float32 samples (streamed data sets). ``seconds`` is known for files.

    Example::

        ex = Example("0001", "Siobhan met Zbigniew.", Path("my-voice/0001.wav"), 2.4)
        ex.audio().shape        # (38400,)
    """

    id: str
    text: str
    source: Path | Callable[[], AudioArray] = field(repr=False)
    seconds: float | None = None

    def audio(self) -> AudioArray:
        """The clip as 16 kHz mono float32 samples."""
        if isinstance(self.source, Path):
            return load_audio(self.source)
        return self.source()


def label_text(text: str) -> str:
    """A transcript as Whisper writes one: single spaces, one leading space.

    Example:
        >>> label_text("  Hello,\\n  Siobhan. ")
        ' Hello, Siobhan.'
    """
    return " " + " ".join(text.split())


def _problems(kind: str, items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_PROBLEMS_SHOWN])
    more = (
        f" and {len(items) - _MAX_PROBLEMS_SHOWN} more" if len(items) > _MAX_PROBLEMS_SHOWN else ""
    )
    return f"{len(items)} {kind}: {shown}{more}"


def _read_manifest(path: Path) -> list[tuple[str, Path, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read the manifest {path}: {exc}") from exc
    if not rows:
        raise DatasetError(f"the manifest {path} has no rows (it needs a header and one per clip)")
    missing = [c for c in ("id", "wav", "text") if c not in rows[0]]
    if missing:
        raise DatasetError(
            f"the manifest {path} lacks the column(s) {', '.join(missing)}: it needs a "
            "tab-separated header with id, wav (path relative to the manifest) and text"
        )
    return [(r["id"] or "", path.parent / (r["wav"] or ""), r["text"] or "") for r in rows]


def _scan_pairs(directory: Path) -> list[tuple[str, Path, str]]:
    wavs = {p.with_suffix(""): p for p in directory.rglob("*.wav")}
    texts = {p.with_suffix(""): p for p in directory.rglob("*.txt") if p.name != "prompts.txt"}
    lonely_wavs = sorted(str(w.relative_to(directory)) for s, w in wavs.items() if s not in texts)
    lonely_texts = sorted(str(t.relative_to(directory)) for s, t in texts.items() if s not in wavs)
    if lonely_wavs or lonely_texts:
        parts = []
        if lonely_wavs:
            parts.append(_problems("wav file(s) without a .txt transcript", lonely_wavs))
        if lonely_texts:
            parts.append(_problems(".txt file(s) without a .wav", lonely_texts))
        raise DatasetError(
            f"the data set {directory} is inconsistent: " + "; ".join(parts) + ". Each "
            "NAME.wav needs its transcript in NAME.txt beside it: add the missing files or "
            "remove the strays"
        )
    rows = []
    for stem in sorted(wavs):
        try:
            text = texts[stem].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read the transcript {texts[stem]}: {exc}") from exc
        rows.append((str(stem.relative_to(directory)), wavs[stem], text))
    return rows


def read_dataset(directory: Path, *, check_audio: bool = True) -> list[Example]:
    """The examples of a data set directory, checked; :class:`DatasetError` if unusable.

    Uses ``directory/manifest.tsv`` when it exists, else every ``NAME.wav`` with its
    ``NAME.txt`` (sub-directories included). With ``check_audio``, each file's header is
    read to check it is audio of 0.3 to 30 s; the samples are read only when training.

    Example::

        examples = read_dataset(Path("my-voice"))
        sum(e.seconds or 0 for e in examples)      # seconds of speech in all
    """
    if not directory.is_dir():
        raise DatasetError(f"no data set directory at {directory}")
    manifest = directory / MANIFEST
    rows = _read_manifest(manifest) if manifest.is_file() else _scan_pairs(directory)
    if not rows:
        raise DatasetError(
            f"the data set {directory} is empty: it holds no NAME.wav + NAME.txt pairs and no "
            f"{MANIFEST}. Record some with `livewhisper record {directory} --prompts FILE`"
        )
    examples: list[Example] = []
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for id_, wav, text in rows:
        if not id_ or id_ in seen:
            problems.setdefault("duplicate or empty id(s)", []).append(id_ or "(empty)")
            continue
        seen.add(id_)
        if not text.strip():
            problems.setdefault("empty transcript(s)", []).append(id_)
            continue
        seconds = None
        if check_audio:
            try:
                info = soundfile.info(str(wav))
                seconds = info.frames / info.samplerate
            except (soundfile.SoundFileError, RuntimeError, OSError):
                key = "missing audio file(s)" if not wav.is_file() else "unreadable audio file(s)"
                problems.setdefault(key, []).append(str(wav))
                continue
            if not MIN_SECONDS <= seconds <= MAX_SECONDS:
                problems.setdefault(
                    f"clip(s) not {MIN_SECONDS:g} to {MAX_SECONDS:g} s long", []
                ).append(f"{id_} ({seconds:.1f} s)")
                continue
        examples.append(Example(id_, text.strip(), wav, seconds))
    if problems:
        details = "; ".join(_problems(kind, items) for kind, items in problems.items())
        raise DatasetError(f"the data set {directory} has problems: {details}")
    return examples


def split_dataset(
    examples: Sequence[Example], eval_fraction: float, *, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """A reproducible split into (train, held out): ``eval_fraction`` of the examples held out.

    At least one example goes each way; :class:`DatasetError` if there are fewer than 2.

    Example::

        train, held_out = split_dataset(examples, 0.2, seed=0)   # 40 -> 32 + 8
    """
    if not 0.0 < eval_fraction < 1.0:
        raise DatasetError(f"the evaluation split must be between 0 and 1, not {eval_fraction}")
    if len(examples) < 2:
        raise DatasetError(
            f"the data set has {len(examples)} example(s): fine-tuning needs at least 2, one to "
            "train on and one to measure; a few dozen sentences give useful results"
        )
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = min(len(examples) - 1, max(1, round(eval_fraction * len(examples))))
    held = sorted(order[:n_eval])
    train = sorted(order[n_eval:])
    return [examples[i] for i in train], [examples[i] for i in held]


def write_manifest(directory: Path, examples: Iterable[Example]) -> Path:
    """Write ``directory/manifest.tsv`` (id, wav, text, dur_s) atomically; return its path."""
    path = directory / MANIFEST
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
    writer.writerow(["id", "wav", "text", "dur_s"])
    for ex in examples:
        if not isinstance(ex.source, Path):
            raise DatasetError(f"example {ex.id} has no audio file to list in a manifest")
        wav = ex.source.relative_to(directory) if ex.source.is_absolute() else ex.source
        text = " ".join(ex.text.split())
        seconds = "" if ex.seconds is None else f"{ex.seconds:.2f}"
        writer.writerow([ex.id, str(wav), text, seconds])
    with atomic_output(path) as f:
        f.write(buffer.getvalue().encode("utf-8"))
    return path


def save_example(directory: Path, name: str, audio: AudioArray, text: str) -> Example:
    """Save ``NAME.wav`` (16 kHz, 16-bit) and ``NAME.txt`` into ``directory``, atomically.

    Example::

        save_example(Path("my-voice"), "0001", samples, "Siobhan met Zbigniew.")
    """
    samples = as_mono_float32(audio, SAMPLE_RATE)
    if samples.size == 0:
        raise AudioError("nothing was recorded")
    wav, txt = directory / f"{name}.wav", directory / f"{name}.txt"
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), SAMPLE_RATE, "PCM_16", format="WAV")
    with atomic_output(wav) as f:
        f.write(buffer.getvalue())
    with atomic_output(txt) as f:
        f.write((" ".join(text.split()) + "\n").encode("utf-8"))
    return Example(name, text.strip(), wav, samples.size / SAMPLE_RATE)


class Collator:
    """Turn examples into a padded training batch for a Whisper model.

    * ``input_features``: log-mel features (``n_mels`` x 3000 frames: 30 s, the audio
      padded with silence), from the Whisper feature extractor at 16 kHz.
    * ``labels``: the transcript's tokens after the start token (``<|notimestamps|>``,
      the text, ``<|endoftext|>``), padded with -100 so padding costs no loss; the model
      shifts them right behind ``<|startoftranscript|>`` to make its decoder input.

    Example::

        collate = Collator(whisper)
        batch = collate(examples[:4])
        batch["input_features"].shape, batch["labels"].shape   # (4, 80, 3000), (4, 17)
    """

    def __init__(self, whisper: Any, *, max_label_tokens: int | None = None) -> None:
        self.whisper = whisper
        self.prefix = list(whisper.prefix_ids)
        self.eot = whisper.eot_id
        self.max_tokens = max_label_tokens or int(whisper.model.config.max_target_positions)

    def labels(self, text: str) -> list[int]:
        """The label ids of one transcript (everything after ``<|startoftranscript|>``)."""
        ids: list[int] = self.whisper.tokenizer.encode(label_text(text), add_special_tokens=False)
        labels = self.prefix[1:] + ids + [self.eot]
        if len(labels) + 1 > self.max_tokens:
            raise DatasetError(
                f"a transcript is too long for Whisper ({len(labels)} tokens, at most "
                f"{self.max_tokens - 1}): {text[:60]!r}..."
            )
        return labels

    def features(self, audios: Sequence[AudioArray]) -> Any:
        """Log-mel features of a batch of clips, as a float32 tensor (B, n_mels, 3000)."""
        out = self.whisper.features(
            [np.asarray(a, dtype=np.float32) for a in audios],
            sampling_rate=SAMPLE_RATE,
            return_tensors="pt",
        )
        return out.input_features

    def label_batch(self, examples: Sequence[Example]) -> Any:
        """The examples' labels as one (B, longest) tensor, padded with -100."""
        torch = require_torch()
        labels = [self.labels(ex.text) for ex in examples]
        width = max(len(ids) for ids in labels)
        padded = torch.full((len(labels), width), -100, dtype=torch.long)
        for i, ids in enumerate(labels):
            padded[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return padded

    def __call__(self, examples: Sequence[Example]) -> dict[str, Any]:
        """``input_features`` and ``labels`` of a batch, both padded: the model's inputs."""
        return {
            "input_features": self.features([ex.audio() for ex in examples]),
            "labels": self.label_batch(examples),
        }


def _decode_hub_audio(value: Any) -> AudioArray:
    """A Hugging Face ``Audio(decode=False)`` value (bytes or path) as 16 kHz mono float32."""
    if isinstance(value, dict) and value.get("bytes"):
        data, rate = soundfile.read(io.BytesIO(value["bytes"]), dtype="float32", always_2d=True)
        return as_mono_float32(data, rate)
    if isinstance(value, dict) and value.get("array") is not None:
        return as_mono_float32(np.asarray(value["array"]), value.get("sampling_rate", SAMPLE_RATE))
    if isinstance(value, dict) and value.get("path"):
        return load_audio(value["path"])
    raise DatasetError(f"cannot read an audio value of type {type(value).__name__}")


def stream_hub_dataset(
    name: str,
    *,
    split: str = "train",
    config: str | None = None,
    text_column: str | None = None,
    audio_column: str = "audio",
    limit: int | None = None,
    skip: int = 0,
) -> Iterator[Example]:
    """Examples of a Hugging Face data set, streamed: never downloaded whole.

    Rows are fetched as iteration reaches them (``datasets``' streaming mode), audio is
    decoded here with libsndfile (no torchcodec needed), and clips outside 0.3 to 30 s or
    without text are skipped. ``skip`` and ``limit`` select a window of rows, which is how
    a held-out split is taken from a stream. Needs ``pip install datasets`` and a network;
    machines without a model hub cannot use it.

    Example::

        held_out = list(stream_hub_dataset("user/my-voice", split="train", limit=50))
        train = stream_hub_dataset("user/my-voice", split="train", skip=50)
    """
    datasets = require_datasets()
    try:
        stream = datasets.load_dataset(name, config, split=split, streaming=True)
        stream = stream.cast_column(audio_column, datasets.Audio(decode=False))
    except Exception as exc:  # datasets raises many kinds; all mean the same to the user
        raise DatasetError(f"cannot stream the Hugging Face data set {name!r}: {exc}") from exc
    if skip:
        stream = stream.skip(skip)
    if limit is not None:
        stream = stream.take(limit)
    column = text_column
    for index, row in enumerate(stream):
        if column is None:
            column = next((c for c in _TEXT_COLUMNS if c in row), None)
            if column is None:
                raise DatasetError(
                    f"the data set {name!r} has no text column among {', '.join(_TEXT_COLUMNS)}; "
                    "name it with --hub-text-column"
                )
        text = str(row.get(column) or "").strip()
        if not text:
            continue
        audio = _decode_hub_audio(row[audio_column])
        seconds = audio.size / SAMPLE_RATE
        if not MIN_SECONDS <= seconds <= MAX_SECONDS or not math.isfinite(seconds):
            continue
        yield Example(f"{name}:{skip + index}", text, _constant(audio), seconds)


def _constant(audio: AudioArray) -> Callable[[], AudioArray]:
    return lambda: audio
