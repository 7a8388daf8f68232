"""Fine-tuning: held-out WER of tiny.en before and after, on sentences full of unusual names.

The data set is synthetic and reproducible: 40 short sentences built from a fixed list of
people's names and made-up product jargon (each term appears in several sentences), spoken
by espeak-ng at varied speeds and pitches. 80% train, 20% are held out; none of the
held-out sentences is seen in training, but their names are, as when a user records a
few dozen sentences with their own vocabulary and then dictates new ones.

WER is measured on the held-out clips with the ``transformers`` model (greedy) and with the
exported whisper.cpp file through the streaming core (:class:`livewhisper.Dictation`, pushed
audio), before and after. The acceptance bar: under 15 minutes on this CPU, and the
held-out WER at least a third lower (relative).

Example::

    python -m benchmarks finetune                 # the full run (1 to 8 minutes on 2 cores)
    python -m benchmarks finetune --sentences 8 --epochs 1   # a quick look
"""

from __future__ import annotations

import argparse
import importlib.metadata
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Benchmark, Column, Row, report

PEOPLE = (
    "Zbigniew Kowalczyk",
    "Siobhan Okonkwo",
    "Xiomara Tlaxcala",
    "Aurelio Quisbert",
    "Oluwaseun Adebayo",
    "Niamh Fitzwilliam",
    "Tenzing Dorjee",
    "Kwabena Mensah",
    "Ingrid Haugland",
    "Dmitri Vasquez-Olenko",
)
"""People's names Whisper rarely spells right."""

JARGON = (
    "Zyntrix",
    "Quorvex",
    "Velthara",
    "Brimsko",
    "Ophidian",
    "Trelloway",
)
"""Made-up product names, one word each."""

TEMPLATES = (
    "{a} moved the {j} cluster to Tuesday.",
    "Please ask {a} about the {j} invoice.",
    "{a} and {b} reviewed the {j} dashboard.",
    "The {j} release was approved by {a}.",
    "Send the {j} report to {a} before noon.",
    "{a} called {b} about the {j} outage.",
    "We need {a} to sign off on {j}.",
    "{a} will present the {j} roadmap tomorrow.",
    "Has {a} seen the new {j} contract?",
    "{b} thinks {a} should run {j} on Friday.",
    "Book a room for {a} and the {j} team.",
    "Our {j} budget is managed by {a}.",
)

VOICE_SPEEDS = (150, 160, 170, 145, 165)
VOICE_PITCHES = (40, 50, 60, 45, 55)


def sentences(count: int = 40, seed: int = 0) -> list[str]:
    """``count`` distinct sentences mixing :data:`PEOPLE` and :data:`JARGON`, reproducibly.

    Example::

        sentences(2)   # ['Zbigniew Kowalczyk moved the Zyntrix cluster to Tuesday.', ...]
    """
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    i = 0
    while len(out) < count:
        a = PEOPLE[i % len(PEOPLE)]
        b = PEOPLE[(i * 3 + 1) % len(PEOPLE)]
        if b == a:
            b = PEOPLE[(i + 1) % len(PEOPLE)]
        text = TEMPLATES[rng.randrange(len(TEMPLATES))].format(
            a=a, b=b, j=JARGON[rng.randrange(len(JARGON))]
        )
        i += 1
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def synthesize_dataset(
    directory: Path, count: int = 40, seed: int = 0, texts: list[str] | None = None
) -> Path:
    """Speak :func:`sentences` (or ``texts``) with espeak-ng into ``directory``.

    Writes ``NNNN.wav`` + ``NNNN.txt`` per sentence and the manifest. Needs ``espeak-ng``
    on the PATH (``apt-get install espeak-ng``).
    """
    from livewhisper.audio.decode import load_audio
    from livewhisper.finetune.data import save_example, write_manifest

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is needed: apt-get install espeak-ng")
    directory.mkdir(parents=True, exist_ok=True)
    examples = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(sentences(count, seed) if texts is None else texts):
            raw = Path(tmp) / "raw.wav"
            speed = VOICE_SPEEDS[i % len(VOICE_SPEEDS)]
            pitch = VOICE_PITCHES[(i // 2) % len(VOICE_PITCHES)]
            subprocess.run(
                [espeak, "-v", "en-us", "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
                check=True,
                capture_output=True,
            )
            examples.append(save_example(directory, f"{i:04d}", load_audio(raw), text))
    write_manifest(directory, examples)
    return directory


def measure(
    sentences_count: int,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    train_encoder: bool,
    eval_split: float,
    seed: int,
    work: Path | None = None,
    progress: bool = True,
) -> Row:
    """Synthesize the data set, fine-tune tiny.en on it, and return one row of figures."""
    from livewhisper.finetune import TrainConfig, finetune
    from livewhisper.finetune._deps import require_transformers

    require_transformers().utils.logging.set_verbosity_error()

    with tempfile.TemporaryDirectory(prefix="lw-finetune-") as tmp:
        root = work or Path(tmp)
        started = time.monotonic()
        data = synthesize_dataset(root / "data", sentences_count, seed)
        synth_s = time.monotonic() - started
        started = time.monotonic()
        report_ = finetune(
            data,
            root / "model",
            base="tiny.en",
            config=TrainConfig(
                epochs=epochs,
                learning_rate=learning_rate,
                batch_size=batch_size,
                train_encoder=train_encoder,
                seed=seed,
            ),
            eval_split=eval_split,
            progress=progress,
            log=lambda m: print(m, file=sys.stderr),
        )
        total_s = time.monotonic() - started
    before = report_.wer("before", "whisper.cpp q8_0")
    after = report_.wer("after", "whisper.cpp q8_0")
    before_hf = report_.wer("before", "transformers")
    after_hf = report_.wer("after", "transformers")
    return {
        "torch": importlib.metadata.version("torch"),
        "transformers": importlib.metadata.version("transformers"),
        "sentences": sentences_count,
        "train": report_.train_examples,
        "held_out": len(report_.held_out),
        "train_encoder": train_encoder,
        "epochs_run": report_.training.history[-1].epoch if report_.training.history else 0,
        "steps": report_.training.steps,
        "wer_before_hf": before_hf,
        "wer_after_hf": after_hf,
        "wer_before_cpp": before,
        "wer_after_cpp": after,
        "relative_drop_cpp": None if not before or after is None else 1 - after / before,
        "train_s": report_.training.seconds,
        "total_s": round(total_s, 1),
        "synth_s": round(synth_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "table": report_.table,
        "texts": report_.hypotheses,
        "held_out_ids": list(report_.held_out),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--sentences", type=int, default=40, help="sentences to synthesize (40)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--train-encoder", action="store_true", help="train the encoder too")
    parser.add_argument("--eval-split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the data set and model in this directory")


def run(args: argparse.Namespace) -> list[Row]:
    """Run the benchmark with the parsed options."""
    return [
        measure(
            args.sentences,
            args.epochs,
            args.lr,
            args.batch_size,
            args.train_encoder,
            args.eval_split,
            args.seed,
            work=args.keep,
        )
    ]


def summary(rows: list[Row]) -> str:
    """The before/after table and the acceptance verdict."""
    row = rows[0]
    drop = row["relative_drop_cpp"]
    ok_time = row["total_s"] < 15 * 60
    ok_drop = drop is not None and drop >= 1 / 3
    lines = [
        row["table"],
        "",
        f"Acceptance: total {row['total_s'] / 60:.1f} min (< 15: {'yes' if ok_time else 'NO'}), "
        f"relative WER drop through whisper.cpp {0 if drop is None else drop:.0%} "
        f"(>= 33%: {'yes' if ok_drop else 'NO'}).",
    ]
    return "\n".join(lines)


def _plot(rows: list[Row], stem: Path) -> list[Path]:
    from benchmarks import plots

    labels = [f"tiny.en, {r['train']} clips, {r['held_out']} held out" for r in rows]
    series = {
        "before": [100 * r["wer_before_cpp"] for r in rows],
        "after": [100 * r["wer_after_cpp"] for r in rows],
    }
    title = "Held-out WER before and after fine-tuning (whisper.cpp)"
    return [plots.bars(labels, series, "WER %", title, stem.with_suffix(".png"))]


BENCHMARK = Benchmark(
    name="finetune",
    description="fine-tune tiny.en on 40 espeak-ng sentences of unusual names; WER before/after",
    add_arguments=add_arguments,
    run=run,
    columns=(
        Column("train", "train clips"),
        Column("held_out", "held out"),
        Column("train_encoder", "encoder trained"),
        Column("steps", "steps"),
        Column("wer_before_cpp", "WER before (whisper.cpp)", "{:.1%}"),
        Column("wer_after_cpp", "WER after (whisper.cpp)", "{:.1%}"),
        Column("relative_drop_cpp", "relative drop", "{:.0%}"),
        Column("wer_before_hf", "WER before (transformers)", "{:.1%}"),
        Column("wer_after_hf", "WER after (transformers)", "{:.1%}"),
        Column("train_s", "training s", "{:.0f}"),
        Column("total_s", "total s", "{:.0f}"),
        Column("peak_rss_mb", "peak RSS MB"),
    ),
    notes=(
        "tiny.en from the bundled CTranslate2 weights, PyTorch CPU, 2 threads",
        "total = load + WER before (both decoders) + training + WER after + export",
        "the data set is synthesized with espeak-ng (not counted in total)",
    ),
    summary=summary,
    plot=_plot,
)


def main() -> int:
    """Run standalone: ``python -m benchmarks.finetune [options]``."""
    parser = argparse.ArgumentParser(description=BENCHMARK.description)
    add_arguments(parser)
    args = parser.parse_args()
    report(BENCHMARK, run(args), params=vars(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
