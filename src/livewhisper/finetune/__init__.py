"""Fine-tune a Whisper model on your own voice, names and jargon, on an ordinary CPU.

Record a few dozen sentences (``livewhisper record``), fine-tune (``livewhisper
finetune``), and dictate with the result (``livewhisper dictate --model MODEL_DIR``). The
pieces, each usable alone:

* :mod:`~livewhisper.finetune.data`: read, check and split a data set; the batch collator.
* :mod:`~livewhisper.finetune.hf_convert`: CTranslate2 -> ``transformers`` -> whisper.cpp.
* :mod:`~livewhisper.finetune.train`: the training loop (early stop, checkpoints).
* :mod:`~livewhisper.finetune.evaluate`: held-out WER, before and after.
* :mod:`~livewhisper.finetune.run`: the whole job, :func:`finetune`.

Importing this package needs nothing beyond livewhisper; PyTorch and ``transformers``
(``pip install "livewhisper[finetune]"``) are imported when training or conversion
starts, and their absence is a :class:`~livewhisper.errors.DependencyError`.

Example::

    from livewhisper.finetune import TrainConfig, finetune

    report = finetune(Path("my-voice"), Path("my-model"), base="tiny.en",
                      config=TrainConfig(epochs=10))
    print(report.table)                   # held-out WER before and after
"""

from livewhisper.finetune._deps import EXTRA_HINT
from livewhisper.finetune.data import (
    Collator,
    Example,
    read_dataset,
    save_example,
    split_dataset,
    stream_hub_dataset,
    write_manifest,
)
from livewhisper.finetune.evaluate import WerRow, wer_of, wer_table
from livewhisper.finetune.hf_convert import HFWhisper, export_ggml, load_base, load_hf, save_hf
from livewhisper.finetune.run import FinetuneReport, HubDataset, finetune
from livewhisper.finetune.train import TrainConfig, TrainResult, train

__all__ = [
    "EXTRA_HINT",
    "Collator",
    "Example",
    "FinetuneReport",
    "HFWhisper",
    "HubDataset",
    "TrainConfig",
    "TrainResult",
    "WerRow",
    "export_ggml",
    "finetune",
    "load_base",
    "load_hf",
    "read_dataset",
    "save_example",
    "save_hf",
    "split_dataset",
    "stream_hub_dataset",
    "train",
    "wer_of",
    "wer_table",
    "write_manifest",
]
