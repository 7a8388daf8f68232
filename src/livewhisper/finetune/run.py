"""The whole fine-tuning job: data -> base model -> WER before -> train -> WER after -> export.

:func:`finetune` is what ``livewhisper finetune`` runs. Its output directory is a model
livewhisper can use anywhere a model is named (``Engine("my-model")``,
``livewhisper dictate --model my-model``, the server):

* ``ggml-model-q8_0.bin`` (and ``ggml-model-f16.bin``): the whisper.cpp files;
* ``livewhisper.json``: which file to load, the base model, the held-out ids, the WERs;
* ``hf/``: the ``transformers`` model, to fine-tune further or use with ``transformers``;
* ``checkpoints/``: ``last.pt`` to resume an interrupted run, ``best.pt``.

Example::

    report = finetune(Path("my-voice"), Path("my-model"), base="tiny.en")
    print(report.table)
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from livewhisper.errors import DatasetError
from livewhisper.finetune.blend import blend_state, choose_blend
from livewhisper.finetune.data import Example, read_dataset, split_dataset, stream_hub_dataset
from livewhisper.finetune.evaluate import (
    WerRow,
    timed_wer,
    transcribe_engine,
    transcribe_hf,
    transcribe_streaming,
    wer_table,
)
from livewhisper.finetune.general import MAX_WER_RISE, forgetting_warning, general_set
from livewhisper.finetune.hf_convert import HF_DIR, export_ggml, load_base, save_hf
from livewhisper.finetune.terms import learned_terms
from livewhisper.finetune.train import TrainConfig, TrainResult, check_memory, train
from livewhisper.models.resolve import FINETUNED_MANIFEST

__all__ = ["FinetuneReport", "HubDataset", "finetune", "write_model_manifest"]

FORMAT = "livewhisper-finetuned"


@dataclass(frozen=True)
class HubDataset:
    """A Hugging Face data set to stream: ``eval_size`` rows from its start are held out.

    Example: ``HubDataset("user/my-voice", split="train", eval_size=50)``.
    """

    name: str
    split: str = "train"
    config: str | None = None
    text_column: str | None = None
    eval_size: int = 50


@dataclass(frozen=True)
class FinetuneReport:
    """What a fine-tuning job did: WER rows before/after, training, files written."""

    rows: tuple[WerRow, ...]
    training: TrainResult
    model_dir: Path
    files: dict[str, Path]
    train_examples: int | None
    held_out: tuple[str, ...]
    hypotheses: dict[str, list[str]] = field(default_factory=dict)
    general_wer: tuple[float, float] | None = None
    """WER on the bundled general speech (:mod:`~livewhisper.finetune.general`), before
    and after; None when not measured."""
    blend: float = 1.0
    """The share of the fine-tuned change the exported model keeps
    (:mod:`~livewhisper.finetune.blend`)."""
    blends_tried: tuple[tuple[float, float], ...] = ()
    """``(blend, general-speech WER)`` for each share tried, when it was chosen."""
    terms: tuple[str, ...] = ()
    """The names and words the base model could not write (:mod:`~livewhisper.finetune.terms`),
    recorded in ``livewhisper.json``: decodes with the model spell near misses of them."""

    @property
    def forgot(self) -> bool:
        """Whether general speech got worse by more than :data:`MAX_WER_RISE`."""
        return self.general_wer is not None and (
            self.general_wer[1] - self.general_wer[0] > MAX_WER_RISE
        )

    @property
    def table(self) -> str:
        """The WER rows as a markdown table."""
        return wer_table(self.rows)

    def wer(self, model: str, backend: str) -> float | None:
        """The WER of ``model`` ("before"/"after") decoded by ``backend``, if measured."""
        for row in self.rows:
            if row.model.startswith(model) and row.backend == backend:
                return row.wer
        return None


def write_model_manifest(model_dir: Path, info: dict[str, Any]) -> Path:
    """Write ``livewhisper.json``, which makes ``model_dir`` resolvable as a model."""
    path = model_dir / FINETUNED_MANIFEST
    path.write_text(json.dumps(info, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def finetune(
    dataset: Path | HubDataset,
    out: Path,
    *,
    base: str | Path = "tiny.en",
    config: TrainConfig | None = None,
    eval_split: float = 0.2,
    precisions: Sequence[str] = ("q8_0", "f16"),
    language: str | None = None,
    evaluate_before: bool = True,
    evaluate_ggml: bool = True,
    evaluate_general: bool = True,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    threads: int = 2,
    learn_terms: bool = True,
) -> FinetuneReport:
    """Fine-tune ``base`` on ``dataset``, measure held-out WER before and after, export to ``out``.

    ``precisions`` are the whisper.cpp files to write; the first is the one livewhisper
    loads. ``evaluate_ggml`` also decodes the held-out clips with the exported file through
    the streaming core (and with the base model's, before), as dictation would.
    ``evaluate_general`` (with ``evaluate_before``) also measures the WER on the bundled
    general speech before and after, and warns when it rose by more than
    :data:`~livewhisper.finetune.general.MAX_WER_RISE`. Those clips are decoded whole,
    one whisper.cpp call each: unlike the streaming core, whose decodes adapt to how
    busy the CPU is, that gives the same text on a busy machine as on an idle one.
    ``learn_terms`` (with ``evaluate_before`` and ``evaluate_ggml``) decodes the training
    clips with the base model too, and records the words it could not write as the
    model's terms (:func:`~livewhisper.finetune.terms.learned_terms`).

    Example::

        report = finetune(Path("my-voice"), Path("my-model"), config=TrainConfig(epochs=8))
        report.wer("after", "whisper.cpp")
    """
    config = config or TrainConfig()
    train_set: Sequence[Example] | Callable[[], Iterable[Example]]
    if isinstance(dataset, HubDataset):
        hub = dataset
        held_out = list(
            stream_hub_dataset(
                hub.name,
                split=hub.split,
                config=hub.config,
                text_column=hub.text_column,
                limit=hub.eval_size,
            )
        )
        if not held_out:
            raise DatasetError(f"the Hugging Face data set {hub.name!r} gave no usable rows")

        def train_set() -> Iterable[Example]:
            return stream_hub_dataset(
                hub.name,
                split=hub.split,
                config=hub.config,
                text_column=hub.text_column,
                skip=hub.eval_size,
            )

        source = f"hub:{hub.name}"
        n_train = None
    else:
        examples = read_dataset(dataset)
        train_set, held_out = split_dataset(examples, eval_split, seed=config.seed)
        source = str(dataset)
        n_train = len(train_set)
        seconds = sum(e.seconds or 0.0 for e in examples)
        log(
            f"data set {dataset}: {len(examples)} clips, {seconds / 60:.1f} min; training on "
            f"{n_train}, holding out {len(held_out)}"
        )
    whisper = load_base(base, language=language)
    if whisper.multilingual and whisper.language is None:
        whisper.language = "en"
        log("the base model is multilingual: assuming English recordings (set --language)")
    needed = check_memory(whisper, config)
    log(
        f"base model {base}: {sum(p.numel() for p in whisper.model.parameters()) / 1e6:.0f}M "
        f"parameters; about {needed / 2**30:.1f} GiB of memory needed"
    )
    out.mkdir(parents=True, exist_ok=True)
    rows: list[WerRow] = []
    texts: dict[str, list[str]] = {}
    base_name = Path(str(base)).name
    general = general_set() if evaluate_general and evaluate_before else []
    general_backend = f"whisper.cpp {precisions[0]}" if evaluate_ggml else "transformers"
    general_wer: list[float] = []
    terms: tuple[str, ...] = ()

    def hear_general(model_file: Path | None) -> tuple[WerRow, list[str]]:
        """The general set decoded by whisper.cpp from ``model_file`` when evaluating
        whisper.cpp, else by ``transformers`` from the weights loaded now."""
        return timed_wer(
            "",
            f"{general_backend}, general speech",
            general,
            (lambda ex: transcribe_engine(model_file, ex, language="en", threads=threads))
            if evaluate_ggml and model_file is not None
            else (lambda ex: transcribe_hf(whisper, ex, language="en")),
            drop_fillers=True,
        )

    def measure_general(label: str, heard: tuple[WerRow, list[str]]) -> None:
        row, texts[f"{label.split()[0]}/general"] = replace(heard[0], model=label), heard[1]
        rows.append(row)
        general_wer.append(row.wer)

    if evaluate_before:
        row, texts["before/transformers"] = timed_wer(
            f"before ({base_name})", "transformers", held_out, lambda ex: transcribe_hf(whisper, ex)
        )
        rows.append(row)
        log(f"held-out WER before fine-tuning: {row.wer:.1%}")
        if evaluate_ggml:
            with tempfile.TemporaryDirectory(prefix="livewhisper-base-") as tmp:
                base_file = export_ggml(whisper, Path(tmp) / "base.bin", precisions[0])
                row, texts["before/whisper.cpp"] = timed_wer(
                    f"before ({base_name})",
                    f"whisper.cpp {precisions[0]}",
                    held_out,
                    lambda ex: transcribe_streaming(
                        base_file, ex, language=whisper.language, threads=threads
                    ),
                )
                rows.append(row)
                if learn_terms:
                    terms = _terms(whisper, base_file, train_set, held_out, texts, log, threads)
                if general:
                    measure_general(f"before ({base_name})", hear_general(base_file))
        elif general:
            measure_general(f"before ({base_name})", hear_general(None))
        if general:
            log(f"WER on general speech before fine-tuning: {general_wer[0]:.1%}")
    choosing = config.blend is None and bool(general)
    blending = choosing or (config.blend is not None and config.blend < 1)
    base_state = _weights(whisper) if blending else None
    result = train(
        whisper,
        train_set,
        held_out,
        config,
        checkpoints=out / "checkpoints",
        resume=resume,
        progress=progress,
        log=log,
    )
    log(f"trained {result.steps} steps in {result.seconds:.0f} s")
    blend = config.blend or 1.0
    tried: list[tuple[float, float]] = []
    heard_at: dict[float, tuple[WerRow, list[str]]] = {}
    if base_state is not None:
        tuned_state = _weights(whisper)

        def general_wer_at(alpha: float) -> float:
            whisper.model.load_state_dict(blend_state(base_state, tuned_state, alpha))
            with tempfile.TemporaryDirectory(prefix="livewhisper-blend-") as tmp:
                path = (
                    export_ggml(whisper, Path(tmp) / "b.bin", precisions[0])
                    if evaluate_ggml
                    else None
                )
                heard_at[alpha] = hear_general(path)
            wer = heard_at[alpha][0].wer
            log(f"keeping {alpha:.0%} of the fine-tuned change: general speech WER {wer:.1%}")
            return wer

        if choosing:
            blend, tried = choose_blend(general_wer[0], general_wer_at, MAX_WER_RISE)
        whisper.model.load_state_dict(blend_state(base_state, tuned_state, blend))
        if blend < 1:
            log(f"the exported model keeps {blend:.0%} of the fine-tuned change (WiSE-FT)")
    row, texts["after/transformers"] = timed_wer(
        "after (fine-tuned)", "transformers", held_out, lambda ex: transcribe_hf(whisper, ex)
    )
    rows.append(row)
    files: dict[str, Path] = {}
    save_hf(whisper, out / HF_DIR)
    for precision in precisions:
        files[precision] = export_ggml(whisper, out / f"ggml-model-{precision}.bin", precision)
        log(f"wrote {files[precision]} ({files[precision].stat().st_size / 1e6:.0f} MB)")
    if evaluate_ggml:
        row, texts["after/whisper.cpp"] = timed_wer(
            "after (fine-tuned)",
            f"whisper.cpp {precisions[0]}",
            held_out,
            lambda ex: transcribe_streaming(
                files[precisions[0]], ex, language=whisper.language, threads=threads
            ),
        )
        rows.append(row)
    if general:
        # The chosen blend's general clips were decoded from the same weights already.
        measure_general(
            "after (fine-tuned)", heard_at.get(blend) or hear_general(files[precisions[0]])
        )
        log(
            f"WER on general speech after fine-tuning: {general_wer[1]:.1%} "
            f"(before: {general_wer[0]:.1%})"
        )
        warning = forgetting_warning(general_wer[0], general_wer[1])
        if warning:
            log(warning)
    rows.sort(key=lambda r: r.backend)
    write_model_manifest(
        out,
        {
            "format": FORMAT,
            "version": 1,
            "model": files[precisions[0]].name,
            "files": {p: f.name for p, f in files.items()},
            "base": str(base),
            "language": whisper.language,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "dataset": source,
            "train_examples": n_train,
            "held_out": [ex.id for ex in held_out],
            "training": asdict(config),
            "blend": blend,
            "blends_tried": tried,
            "terms": list(terms),
            "steps": result.steps,
            "seconds": result.seconds,
            "wer": {f"{r.model} / {r.backend}": round(r.wer, 4) for r in rows},
            "general_wer": None
            if not general
            else {
                "before": round(general_wer[0], 4),
                "after": round(general_wer[1], 4),
                "decoded_by": general_backend,
                "clips": len(general),
            },
        },
    )
    return FinetuneReport(
        tuple(rows),
        result,
        out,
        files,
        n_train,
        tuple(ex.id for ex in held_out),
        texts,
        (general_wer[0], general_wer[1]) if general else None,
        blend,
        tuple(tried),
        terms,
    )


def _terms(
    whisper: Any,
    base_file: Path,
    train_set: Sequence[Example] | Callable[[], Iterable[Example]],
    held_out: Sequence[Example],
    texts: dict[str, list[str]],
    log: Callable[[str], None],
    threads: int,
) -> tuple[str, ...]:
    """The terms (:func:`learned_terms`) of the training clips (a streamed data set's are
    not decoded) and the held-out ones, whose base-model texts are in ``texts``."""
    training = list(train_set) if isinstance(train_set, Sequence) else []
    log(f"finding the words the base model cannot write: decoding {len(training)} clips")
    heard = transcribe_engine(base_file, training, language=whisper.language, threads=threads)
    references = [ex.text for ex in [*training, *held_out]]
    pairs = zip(references, [*heard, *texts["before/whisper.cpp"]], strict=True)
    tokenizer = whisper.tokenizer
    terms = learned_terms(pairs, lambda word: len(tokenizer.encode(word, add_special_tokens=False)))
    log(f"terms the model learns ({len(terms)}): {', '.join(terms) or 'none'}")
    return terms


def _weights(whisper: Any) -> dict[str, Any]:
    """A copy of the ``transformers`` model's weights (its state dict)."""
    return {name: value.detach().clone() for name, value in whisper.model.state_dict().items()}
