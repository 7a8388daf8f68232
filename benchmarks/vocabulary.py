"""Vocabulary biasing and fine-tuning: key-term errors on names, WER on ordinary speech.

Two test sets:

* **names**: sentences full of people's names and product jargon (the fine-tuning
  benchmark's :data:`~benchmarks.finetune.PEOPLE` and :data:`~benchmarks.finetune.JARGON`),
  spoken by espeak-ng. They are new sentences: none is among the 40 the fine-tuned model
  trains on (its names are, as when a user records sentences and then dictates others).
  Measured: the **key-term error rate** (:func:`livewhisper.wer.key_term_error_rate`, the
  share of the listed terms said that are not written exactly, case aside) and WER.
* **ordinary**: the real speech of ``tests/data/en`` (19 clips, 138 s), WER with fillers
  dropped: what the vocabulary or the training costs elsewhere.

Four systems, each transcribing every clip as ``livewhisper transcribe`` does
(:func:`livewhisper.filetranscribe.transcribe_file`: VAD-cut utterances, each decoded
with the history prompt after the vocabulary glossary): the base model, the base model with
the vocabulary (the 16 names and terms: the prompt of :mod:`livewhisper.vocabulary`, then
:mod:`livewhisper.spelling`), the model fine-tuned with ``livewhisper finetune``'s
defaults on what ``livewhisper record`` has a user read by default (the 40 training
sentences with 20 ordinary ones among them, :mod:`livewhisper.finetune.ordinary`), and
the fine-tuned model with the vocabulary. Targets: vocabulary alone cuts the key-term error
rate by a third or more at no more than +0.5 WER point on ordinary speech; fine-tuning cuts
it by two thirds or more at no more than +1 point.

Example::

    python -m benchmarks vocabulary                       # tiny.en, fine-tunes first
    python -m benchmarks vocabulary --finetuned my-model  # an existing fine-tuned model
    python -m benchmarks vocabulary --quick               # 8 names sentences, 4 clips
    python -m benchmarks vocabulary --systems base        # the base model, with and without
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.finetune import JARGON, PEOPLE, sentences, synthesize_dataset
from benchmarks.harness import Benchmark, Column, Row, clips

TERMS = PEOPLE + JARGON
"""The vocabulary: every name and product word of the names sentences."""

TARGET_VOCABULARY = 1 / 3
TARGET_FINETUNED = 2 / 3
MAX_WER_POINTS_VOCABULARY = 0.5
MAX_WER_POINTS_FINETUNED = 1.0
QUICK_CLIPS = ("jfk", "ps_0870", "libri_61-70968-0000", "mfa_cold_corpus")


def names_sentences(count: int, training: list[str]) -> list[str]:
    """``count`` names sentences, none of them among ``training``, reproducibly."""
    fresh = [s for s in sentences(4 * count + len(training), seed=1) if s not in training]
    return fresh[:count]


def transcribe(engine: Any, examples: list[Any], vocabulary: tuple[str, ...]) -> list[str]:
    """Each example's text as ``livewhisper transcribe`` writes it, with ``vocabulary``."""
    from livewhisper.engine import DecodeOptions
    from livewhisper.filetranscribe import transcribe_file

    options = DecodeOptions(language="en", vocabulary=vocabulary)
    return [transcribe_file(ex.audio(), engine, options).text.strip() for ex in examples]


def measure(
    model: str,
    finetuned: Path | None,
    names_count: int,
    clip_ids: list[str] | None,
    threads: int,
    work: Path,
    systems: tuple[str, ...] = ("base", "fine-tuned"),
    variants: tuple[str, ...] = ("plain", "vocabulary"),
    log: bool = True,
) -> list[Row]:
    """Synthesize the sets, fine-tune if need be, decode with each system; one row each."""
    from livewhisper.engine import Engine
    from livewhisper.finetune.data import Example, read_dataset
    from livewhisper.finetune.ordinary import with_ordinary
    from livewhisper.wer import corpus_wer, key_term_error_rate

    training = sentences(40, seed=0)
    names = read_dataset(
        synthesize_dataset(work / "names", texts=names_sentences(names_count, training))
    )
    ordinary = [Example(c.id, c.reference, c.path, c.seconds) for c in clips(clip_ids)]
    base_name = model.split("-")[0]
    finetune_s = None
    blend = None
    if finetuned is None and "fine-tuned" in systems:
        from livewhisper.finetune import TrainConfig, finetune
        from livewhisper.finetune._deps import require_transformers

        require_transformers().utils.logging.set_verbosity_error()
        started = time.monotonic()
        # What a user records with livewhisper record's defaults (the 40 sentences and an
        # ordinary one after every two), then livewhisper finetune's defaults, the
        # general-speech check (and so the choice of blend) included.
        report = finetune(
            synthesize_dataset(work / "train", texts=with_ordinary(training)),
            work / "finetuned",
            base=base_name,
            config=TrainConfig(),
            progress=False,
            log=lambda m: print(m, file=sys.stderr) if log else None,
            threads=threads,
        )
        finetune_s = round(time.monotonic() - started, 1)
        blend = report.blend
        finetuned = work / "finetuned"
    rows: list[Row] = []
    chosen = [(model, model)] if "base" in systems else []
    if "fine-tuned" in systems:
        chosen.append(("fine-tuned", str(finetuned)))
    for label, path in chosen:
        with Engine(path, threads=threads) as engine:
            for vocabulary in [() if v == "plain" else TERMS for v in variants]:
                started = time.monotonic()
                cpu = time.process_time()
                said = transcribe(engine, names, vocabulary)
                heard = transcribe(engine, ordinary, vocabulary)
                pairs = list(zip((e.text for e in names), said, strict=True))
                rows.append(
                    {
                        "system": label + (" + vocabulary" if vocabulary else ""),
                        "model": path,
                        "names_sentences": len(names),
                        "key_term_error": key_term_error_rate(pairs, TERMS),
                        "names_wer": corpus_wer(pairs),
                        "ordinary_clips": len(ordinary),
                        "ordinary_wer": corpus_wer(
                            zip((e.text for e in ordinary), heard, strict=True),
                            drop_fillers=True,
                        ),
                        "seconds": round(time.monotonic() - started, 1),
                        "cpu_s": round(time.process_time() - cpu, 1),
                        "finetune_s": finetune_s if label == "fine-tuned" else None,
                        "blend": blend if label == "fine-tuned" else None,
                        "texts": {"names": said, "ordinary": heard},
                    }
                )
                if log:
                    row = rows[-1]
                    print(
                        f"{row['system']}: key-term error {row['key_term_error']:.1%}, "
                        f"ordinary WER {row['ordinary_wer']:.1%}",
                        file=sys.stderr,
                    )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--model", default="tiny.en-q8_0", help="base model (tiny.en-q8_0)")
    parser.add_argument(
        "--finetuned", type=Path, help="a fine-tuned model directory (default: fine-tune one)"
    )
    parser.add_argument("--sentences", type=int, default=30, help="names test sentences (30)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="8 sentences, 4 clips")
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=("base", "fine-tuned"),
        default=["base", "fine-tuned"],
        help="which models to run (both)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=("plain", "vocabulary"),
        default=["plain", "vocabulary"],
        help="each model without and with the vocabulary (both)",
    )
    parser.add_argument("--keep", type=Path, help="keep the data sets and model here")


def run(args: argparse.Namespace) -> list[Row]:
    """Run the benchmark with the parsed options."""
    count = 8 if args.quick else args.sentences
    clip_ids = list(QUICK_CLIPS) if args.quick else None
    with tempfile.TemporaryDirectory(prefix="lw-vocabulary-") as tmp:
        work = args.keep or Path(tmp)
        return measure(
            args.model,
            args.finetuned,
            count,
            clip_ids,
            args.threads,
            work,
            tuple(args.systems),
            tuple(args.variants),
        )


def summary(rows: list[Row]) -> str:
    """The targets, met or not."""
    by = {r["system"]: r for r in rows}
    base = rows[0]
    lines = []
    for name, target, points in (
        (f"{base['system']} + vocabulary", TARGET_VOCABULARY, MAX_WER_POINTS_VOCABULARY),
        ("fine-tuned", TARGET_FINETUNED, MAX_WER_POINTS_FINETUNED),
        ("fine-tuned + vocabulary", TARGET_FINETUNED, MAX_WER_POINTS_FINETUNED),
    ):
        row = by.get(name)
        if row is None or row is base:
            continue
        drop = 1 - row["key_term_error"] / base["key_term_error"] if base["key_term_error"] else 0
        cost = 100 * (row["ordinary_wer"] - base["ordinary_wer"])
        ok = drop >= target and cost <= points
        lines.append(
            f"{row['system']}: key-term error {drop:.0%} lower (>= {target:.0%}), ordinary "
            f"WER {cost:+.1f} points (<= +{points}): {'yes' if ok else 'NO'}"
        )
    return "\n".join(lines)


BENCHMARK = Benchmark(
    name="vocabulary",
    description="key-term error on names and WER on ordinary speech: base, + vocabulary, "
    "fine-tuned, fine-tuned + vocabulary",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("system", "system"),
        Column("names_sentences", "names sentences"),
        Column("key_term_error", "key-term error", "{:.1%}"),
        Column("names_wer", "WER (names)", "{:.1%}"),
        Column("ordinary_clips", "ordinary clips"),
        Column("ordinary_wer", "WER (ordinary, fillers dropped)", "{:.1%}"),
        Column("blend", "share of the fine-tuned change kept", "{:g}"),
        Column("seconds", "decode s", "{:.0f}"),
        Column("cpu_s", "CPU s", "{:.0f}"),
    ),
    notes=(
        "livewhisper transcribe's path (transcribe_file), greedy, 2 threads",
        "names: espeak-ng en-us sentences not among the 40 fine-tuned on; ordinary: tests/data/en",
        "vocabulary: the 16 names and product words, as a prompt glossary "
        "(livewhisper.vocabulary), then near misses written as the term (livewhisper.spelling)",
    ),
    summary=summary,
)
