"""``livewhisper finetune``: fine-tune a model on recorded sentences, show the WER gain, export.

Needs the ``finetune`` extra (PyTorch CPU and ``transformers``); without it the command
says which ``pip install`` provides them.

Example::

    $ livewhisper finetune my-voice --base tiny.en --out my-model
    $ livewhisper dictate --model my-model
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from livewhisper.cli.common import positive_float, positive_int
from livewhisper.errors import ConfigError
from livewhisper.models.names import PRECISIONS

EXAMPLES = """examples:
  livewhisper record my-voice --prompts sentences.txt     # record a few dozen sentences
  livewhisper finetune my-voice --base tiny.en --out my-model
  livewhisper finetune my-voice --out my-model --epochs 20 --lr 5e-5 --train-encoder
  livewhisper finetune my-voice --out my-model --resume   # continue an interrupted run
  livewhisper finetune --hub-dataset USER/NAME --max-steps 500 --out my-model
  livewhisper dictate --model my-model                    # dictate with the result

The data set is a directory of NAME.wav + NAME.txt pairs or a manifest.tsv (id, wav, text).
--eval-split of it is held out: its word error rate is measured before and after, with
the transformers model and with the exported whisper.cpp file through the streaming core.
So is the word error rate on general speech bundled with livewhisper (ten real clips): a
warning says when the fine-tuned model got worse at ordinary speech by more than a point.
MODEL_DIR receives ggml-model-q8_0.bin (+ f16), livewhisper.json, hf/ and checkpoints/.

--hub-dataset streams a Hugging Face data set (pip install datasets; needs the network):
rows are fetched as training reaches them, never downloaded whole; the first
--hub-eval-size rows are held out. By default the encoder stays frozen and its output for
each clip is computed once: an epoch then costs seconds. --train-encoder adapts to a
voice or accent as well, several times slower.
"""


def _fraction(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def register(commands: Any) -> None:
    """Add the ``finetune`` command to the top-level parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "finetune",
        help="fine-tune a model on your own recordings (needs livewhisper[finetune])",
        description="Fine-tune a Whisper model on recorded sentences, measure the held-out "
        "word error rate before and after, and export a model livewhisper can use.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dataset", type=Path, nargs="?", metavar="DATASET_DIR", help="the recorded data set"
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="MODEL_DIR", help="where the model goes"
    )
    parser.add_argument(
        "--base",
        default="tiny.en",
        help="model to start from: a bundled size (tiny.en, base) or a CTranslate2 or "
        "transformers model directory, or an earlier MODEL_DIR (default tiny.en)",
    )
    parser.add_argument("--language", help="language of the recordings (multilingual bases)")
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=positive_int, default=12, help="(default 12)")
    training.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate (1e-4; 2e-5 with --train-encoder)",
    )
    training.add_argument("--batch-size", type=positive_int, default=8, help="(default 8)")
    training.add_argument(
        "--eval-split", type=_fraction, default=0.2, help="share held out (default 0.2)"
    )
    training.add_argument(
        "--train-encoder", action="store_true", help="train the encoder too (slower)"
    )
    training.add_argument(
        "--train-embeddings",
        action="store_true",
        help="train the token embeddings too (shared with the output layer; by default "
        "they stay the base model's, which forgets less ordinary speech)",
    )
    training.add_argument(
        "--patience",
        type=int,
        default=3,
        help="epochs without a better held-out loss before stopping (default 3; 0: never)",
    )
    training.add_argument("--max-steps", type=positive_int, help="stop after this many steps")
    training.add_argument("--seed", type=int, default=0, help="shuffling and split (default 0)")
    training.add_argument(
        "--blend",
        type=positive_float,
        metavar="SHARE",
        help="share of the fine-tuned change the model keeps, in (0, 1]; less forgets less "
        "(default: the largest of 1, 0.7, 0.5, 0.35, 0.25 that keeps general speech within "
        "1 WER point of the base model)",
    )
    training.add_argument(
        "--resume", action="store_true", help="continue from MODEL_DIR/checkpoints/last.pt"
    )
    training.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads for PyTorch and whisper.cpp (default 2; LIVEWHISPER_TORCH_THREADS)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--type",
        default="q8_0",
        choices=[p for p in PRECISIONS],
        help="precision of the whisper.cpp file livewhisper loads (default q8_0; an f16 "
        "file is written too)",
    )
    output.add_argument(
        "--no-ggml-eval",
        action="store_true",
        help="measure WER with the transformers model only (faster; no terms are learned)",
    )
    output.add_argument(
        "--no-terms",
        action="store_true",
        help="record no terms: by default the names and words the base model could not "
        "write are recorded in MODEL_DIR/livewhisper.json, and decodes with the model "
        "spell near misses of them as the term",
    )
    hub = parser.add_argument_group("Hugging Face data set, streamed (instead of DATASET_DIR)")
    hub.add_argument("--hub-dataset", metavar="NAME", help="e.g. USER/NAME")
    hub.add_argument("--hub-config", help="the data set's configuration, if it has several")
    hub.add_argument("--hub-split", default="train", help="(default train)")
    hub.add_argument("--hub-text-column", help="(default: text, sentence, transcription...)")
    hub.add_argument(
        "--hub-eval-size", type=positive_int, default=50, help="rows held out (default 50)"
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.threads:
        os.environ["LIVEWHISPER_TORCH_THREADS"] = str(args.threads)
    # Imported here: the finetune package pulls in nothing heavy, but keep startup lean.
    from livewhisper.finetune import HubDataset, TrainConfig, finetune
    from livewhisper.finetune._deps import require_transformers

    dataset: Path | HubDataset
    if args.hub_dataset:
        if args.dataset is not None:
            raise ConfigError("give either DATASET_DIR or --hub-dataset, not both")
        if args.max_steps is None:
            raise ConfigError("a streamed data set needs --max-steps (it has no known size)")
        dataset = HubDataset(
            args.hub_dataset,
            split=args.hub_split,
            config=args.hub_config,
            text_column=args.hub_text_column,
            eval_size=args.hub_eval_size,
        )
    elif args.dataset is None:
        raise ConfigError("name the data set: livewhisper finetune DATASET_DIR --out MODEL_DIR")
    else:
        dataset = args.dataset
    lr = args.lr or (2e-5 if args.train_encoder else 1e-4)
    config = TrainConfig(
        epochs=args.epochs,
        learning_rate=lr,
        batch_size=args.batch_size,
        train_encoder=args.train_encoder,
        train_embeddings=args.train_embeddings,
        patience=max(0, args.patience),
        max_steps=args.max_steps,
        seed=args.seed,
        blend=args.blend,
    )
    # Our own progress and messages only: transformers' advice and bars are noise here.
    hf_logging = require_transformers().utils.logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    precisions = (args.type,) + (("f16",) if args.type != "f16" else ())
    report = finetune(
        dataset,
        args.out,
        base=args.base,
        config=config,
        eval_split=args.eval_split,
        precisions=precisions,
        language=args.language,
        evaluate_ggml=not args.no_ggml_eval,
        resume=args.resume,
        threads=args.threads or 2,
        learn_terms=not args.no_terms,
    )
    print()
    print(report.table)
    print(f"\nmodel ready: {args.out} (dictate with: livewhisper dictate --model {args.out})")
    return 0
