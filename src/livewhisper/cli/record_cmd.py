"""``livewhisper record``: record sentences for fine-tuning, one prompt at a time.

Example::

    $ livewhisper record my-voice --prompts sentences.txt
    $ livewhisper record my-voice                # later: resume where you stopped
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from livewhisper.audio.sources import Microphone
from livewhisper.finetune.ordinary import ORDINARY_SHARE, check_share

EXAMPLES = """examples:
  livewhisper record my-voice --prompts sentences.txt
  livewhisper record my-voice                       # resume: recorded prompts are skipped
  livewhisper record my-voice --device pulse

Write the prompts yourself, one sentence per line, full of the names, places and terms
you dictate: a few dozen sentences of 3 to 10 seconds are enough. One ordinary sentence
(the Harvard sentences) comes after every two of yours, so that the fine-tuned model
keeps its ordinary English (--ordinary 0 leaves them out). Each sentence is shown;
press Enter and read it, and recording stops at the pause after you finish (the silence
around it is trimmed). Then keep it (Enter), record it again (r), skip it (s) or quit (q).
Recordings go to DATASET_DIR/NNNN.wav with the text in NNNN.txt and in manifest.tsv;
delete a pair to record that sentence again. Then: livewhisper finetune DATASET_DIR.
"""


def register(commands: Any) -> None:
    """Add the ``record`` command to the top-level parser."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "record",
        help="record sentences from the microphone to fine-tune a model on",
        description="Record a fine-tuning data set: one sentence at a time from the "
        "microphone, silence trimmed by the voice activity detector.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", type=Path, metavar="DATASET_DIR")
    parser.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE",
        help="sentences to read, one a line (kept in DATASET_DIR/prompts.txt for next time)",
    )
    parser.add_argument(
        "--ordinary",
        type=_share,
        default=ORDINARY_SHARE,
        metavar="SHARE",
        help="share of ordinary sentences added to the prompts, in [0, 1) (default 1/3: "
        "fine-tuning forgets less of ordinary speech; 0: none)",
    )
    parser.add_argument(
        "-d", "--device", help="input device, by index or name (see 'livewhisper devices')"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=25.0,
        help="longest take; Whisper sees at most 30 s (default 25)",
    )
    parser.set_defaults(handler=_run)


def _share(text: str) -> float:
    try:
        return check_share(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), not {text!r}") from None


def _device(text: str | None) -> int | str | None:
    return int(text) if text is not None and text.isdigit() else text


def _run(args: argparse.Namespace) -> int:
    from livewhisper.finetune.record import Recorder, keep_prompts

    prompts = keep_prompts(args.dataset, args.prompts, args.ordinary)
    device = _device(args.device)
    recorder = Recorder(
        args.dataset,
        prompts,
        source=lambda: Microphone(device),
        ask=_ask,
        say=print,
        max_seconds=args.max_seconds,
    )
    summary = recorder.run()
    print(
        f"\n{summary.recorded} of {summary.total} sentences recorded "
        f"({summary.seconds / 60:.1f} min) in {args.dataset}"
    )
    if summary.recorded < summary.total:
        print(f"resume with: livewhisper record {args.dataset}")
    if summary.recorded >= 2:
        print(f"fine-tune with: livewhisper finetune {args.dataset} --out MODEL_DIR")
    return 0


def _ask(question: str) -> str:
    try:
        return input(question)
    except EOFError:
        return "q"  # stdin closed: stop cleanly, keeping what was recorded
