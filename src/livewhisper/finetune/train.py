"""The training loop: AdamW, warm-up then linear decay, held-out loss, early stop, checkpoints.

Made for an ordinary CPU. By default the encoder stays frozen and each clip's encoder
output is computed once and kept (about 2 MB a clip for tiny), so an epoch costs only
decoder passes: names and jargon are the decoder's business. ``train_encoder=True``
trains everything, which adapts to a voice or accent too, at several times the cost.

After every epoch (or ``eval_every`` steps) the loss on the held-out examples is measured;
the best weights are kept and restored at the end, and training stops once ``patience``
evaluations in a row bring no improvement. A checkpoint (every few minutes, at the end
and on Ctrl-C) lets an interrupted run resume.

Example::

    result = train(whisper, train_set, held_out, TrainConfig(epochs=8), checkpoints=Path("ck"))
    print(result.best_eval_loss, result.stopped_early)
"""

from __future__ import annotations

import io
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from livewhisper.errors import ConfigError, ResourceError
from livewhisper.finetune._deps import require_torch
from livewhisper.finetune.blend import check_blend
from livewhisper.finetune.data import Collator, Example
from livewhisper.models.cache import atomic_output

__all__ = [
    "EvalRecord",
    "TrainConfig",
    "TrainResult",
    "check_memory",
    "estimate_memory",
    "train",
]

LAST = "last.pt"
_ENCODER_CACHE_BUDGET = 2 * 2**30  # bytes of cached encoder outputs, at most


@dataclass(frozen=True)
class TrainConfig:
    """How to fine-tune. Every field has a default that works for a few dozen sentences.

    * ``epochs``: passes over the training examples (12); ``max_steps`` caps optimizer
      steps instead or as well (needed for streamed data, handy for smoke tests).
    * ``learning_rate`` (1e-4 with a frozen encoder), ``batch_size`` (8),
      ``warmup`` (fraction of steps with a rising rate, 0.1), ``weight_decay`` (0.0),
      ``max_grad_norm`` (1.0).
    * ``train_encoder``: train the encoder too (slower; for accents and noisy rooms).
    * ``train_embeddings``: train the token embeddings too, which Whisper shares with its
      output layer (False: kept, so the model's prior over every word stays the base's).
    * ``patience``: evaluations without a better held-out loss before stopping (3; 0
      never stops early); ``min_delta``: the improvement that counts (0.001).
    * ``eval_every``: optimizer steps between evaluations (None: once per epoch).
    * ``seed``: shuffling and dropout (0).
    * ``blend``: the share of the fine-tuned change the exported model keeps
      (:mod:`livewhisper.finetune.blend`, WiSE-FT): None (the default) chooses it when
      general speech is measured, the largest share that keeps it within one WER point
      of the base model (:func:`~livewhisper.finetune.blend.choose_blend`; else 1); a
      number in (0, 1] fixes it.

    Example::

        TrainConfig(epochs=5, learning_rate=3e-5, train_encoder=True)
    """

    epochs: int = 12
    learning_rate: float = 1e-4
    batch_size: int = 8
    warmup: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    train_encoder: bool = False
    train_embeddings: bool = False
    patience: int = 3
    min_delta: float = 1e-3
    max_steps: int | None = None
    eval_every: int | None = None
    seed: int = 0
    blend: float | None = None

    def __post_init__(self) -> None:
        ints = {"epochs": 1, "batch_size": 1, "patience": 0, "seed": 0}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"TrainConfig.{name} must be a whole number >= {low}")
        for name in ("max_steps", "eval_every"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"TrainConfig.{name} must be None or a whole number >= 1")
        if not (math.isfinite(self.learning_rate) and 0 < self.learning_rate < 1):
            raise ConfigError(f"the learning rate must be in (0, 1), not {self.learning_rate}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"TrainConfig.warmup is a fraction in [0, 1), not {self.warmup}")
        if self.weight_decay < 0 or self.max_grad_norm <= 0 or self.min_delta < 0:
            raise ConfigError("weight_decay and min_delta must be >= 0, max_grad_norm > 0")
        if self.blend is not None:
            check_blend(self.blend)


@dataclass(frozen=True)
class EvalRecord:
    """The state of training at one evaluation."""

    epoch: int
    step: int
    train_loss: float
    eval_loss: float | None
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """What a training run did: its evaluations, where it was best, why it stopped."""

    history: tuple[EvalRecord, ...]
    steps: int
    best_step: int
    best_eval_loss: float | None
    stopped_early: bool
    seconds: float


def estimate_memory(whisper: Any, config: TrainConfig) -> int:
    """Bytes of memory a whole run needs, roughly, on the safe side.

    Weights (and a copy while loading or saving, and one of the base weights kept for
    blending unless ``config.blend`` is 1), then per trained weight a gradient, two AdamW
    moments and the best weights so far; per clip of a batch, the encoder's attention and
    activations; and 1.4 GiB for PyTorch, transformers and whisper.cpp. (Blending after
    training holds four copies of the weights, less than training's peak.)
    Measured on tiny.en, batch 8: a whole run with a frozen encoder peaked at 2.6 GiB
    (estimate 2.7); training the encoder, at 3.3 GiB (estimate 4.7).

    Example::

        estimate_memory(whisper, TrainConfig()) / 2**30   # about 2.7 for tiny.en
    """
    c = whisper.model.config
    params = sum(p.numel() for p in whisper.model.parameters())
    encoder = sum(p.numel() for p in whisper.model.model.encoder.parameters())
    trained = params if config.train_encoder else params - encoder
    copies = 2 if config.blend == 1 else 3
    fixed = copies * 4 * params + 16 * trained
    ctx, state, heads = c.max_source_positions, c.d_model, c.encoder_attention_heads
    # One clip through the encoder: attention weights of a layer plus its activations.
    per_clip = 4 * (heads * ctx * ctx + 8 * ctx * state)
    if config.train_encoder:
        # Backpropagation keeps every layer's activations and attention weights.
        per_clip = c.encoder_layers * 4 * (12 * ctx * state + heads * ctx * ctx)
    return int(fixed + config.batch_size * per_clip + 1.4 * 2**30)


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(whisper: Any, config: TrainConfig, available: int | None = None) -> int:
    """Raise :class:`ResourceError` if the run would not fit in the memory available now."""
    needed = estimate_memory(whisper, config)
    free = _available_memory() if available is None else available
    if free is not None and needed > free:
        smaller = max(1, config.batch_size // 2)
        raise ResourceError(
            f"fine-tuning needs about {needed / 2**30:.1f} GiB of memory and "
            f"{free / 2**30:.1f} GiB is available: use a smaller batch (--batch-size {smaller})"
            + (", keep the encoder frozen (drop --train-encoder)" if config.train_encoder else "")
            + ", a smaller model, or close other programs"
        )
    return needed


class _EncoderCache:
    """Encoder outputs of a frozen encoder, by example id, within a memory budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: dict[str, Any] = {}

    def outputs(self, model: Any, collate: Collator, batch: Sequence[Example]) -> Any:
        torch = require_torch()
        fresh: dict[str, Any] = {}
        missing = [ex for ex in batch if ex.id not in self.items]
        if missing:
            with torch.no_grad():
                hidden = model.model.encoder(collate.features([ex.audio() for ex in missing]))
            for ex, h in zip(missing, hidden.last_hidden_state, strict=True):
                fresh[ex.id] = h
                size = h.numel() * h.element_size()
                if self.used + size <= self.budget:
                    self.items[ex.id] = h
                    self.used += size
        return torch.stack([self.items.get(ex.id, fresh.get(ex.id)) for ex in batch])


def _batches(
    examples: Sequence[Example] | Callable[[], Iterable[Example]], size: int, rng: random.Random
) -> Iterator[list[Example]]:
    if callable(examples):
        batch: list[Example] = []
        for ex in examples():
            batch.append(ex)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    order = list(examples)
    rng.shuffle(order)
    for i in range(0, len(order), size):
        yield order[i : i + size]


def _loss(
    model: Any, collate: Collator, batch: Sequence[Example], cache: _EncoderCache | None
) -> Any:
    if cache is not None:
        # A frozen encoder: its outputs come from the cache, so no audio is read again.
        hidden = cache.outputs(model, collate, batch)
        return model(encoder_outputs=(hidden,), labels=collate.label_batch(batch)).loss
    return model(**collate(batch)).loss


def _eval_loss(
    model: Any,
    collate: Collator,
    held_out: Sequence[Example],
    batch_size: int,
    cache: _EncoderCache | None,
) -> float | None:
    if not held_out:
        return None
    torch = require_torch()
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(held_out), batch_size):
            batch = held_out[i : i + batch_size]
            total += _loss(model, collate, batch, cache).item() * len(batch)
    model.train()
    return total / len(held_out)


def _save(obj: Any, path: Path) -> None:
    torch = require_torch()
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_output(path) as f:
        f.write(buffer.getbuffer())


@dataclass
class _Progress:
    """Where a run stands; saved in ``last.pt`` to resume."""

    step: int = 0
    epoch: int = 0  # epochs completed
    best_loss: float | None = None
    best_step: int = 0
    stale: int = 0
    history: list[EvalRecord] = field(default_factory=list)
    best_state: dict[str, Any] | None = None


def _trainable_state(model: Any) -> dict[str, Any]:
    """Copies of the parameters being trained (a frozen encoder need not be saved)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


class _Run:
    """One training run: the model, its optimizer and schedule, and its progress."""

    def __init__(self, whisper: Any, config: TrainConfig, total_steps: int) -> None:
        torch = require_torch()
        self.config = config
        self.model = whisper.model
        self.total_steps = total_steps
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.trainable, lr=config.learning_rate, weight_decay=config.weight_decay
        )
        warmup = int(config.warmup * total_steps)

        def rate(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, rate)
        self.progress = _Progress()

    def step(self, loss: Any) -> None:
        torch = require_torch()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.trainable, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.step += 1

    def judge(self, loss: float) -> None:
        """Record an evaluation's loss: keep the weights if best, else count it stale."""
        p = self.progress
        if p.best_loss is None or loss < p.best_loss - self.config.min_delta:
            p.best_loss, p.best_step, p.stale = loss, p.step, 0
            p.best_state = _trainable_state(self.model)
        else:
            p.stale += 1

    def save(self, path: Path) -> None:
        p = self.progress
        _save(
            {
                "model": _trainable_state(self.model),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "progress": {**asdict(p), "history": [asdict(r) for r in p.history]},
                "config": asdict(self.config),
            },
            path,
        )

    def restore(self, path: Path) -> bool:
        """Continue from checkpoint ``path``; False if it was made with other options."""
        torch = require_torch()
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("config") != asdict(self.config):
            return False
        self.model.load_state_dict(saved["model"], strict=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        state = saved["progress"]
        state["history"] = [EvalRecord(**r) for r in state["history"]]
        self.progress = _Progress(**state)
        return True


def train(
    whisper: Any,
    train_set: Sequence[Example] | Callable[[], Iterable[Example]],
    held_out: Sequence[Example],
    config: TrainConfig | None = None,
    *,
    checkpoints: Path | None = None,
    resume: bool = False,
    checkpoint_interval: float = 300.0,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Fine-tune ``whisper`` (an :class:`~livewhisper.finetune.hf_convert.HFWhisper`) in place.

    ``train_set`` is a list of examples or, for streamed data, a function that returns a
    fresh iterable of them (then set ``config.max_steps``). The best weights by held-out
    loss are loaded back at the end. With ``checkpoints``, ``last.pt`` (the trained
    weights, optimizer, schedule, progress and best weights) is written there every
    ``checkpoint_interval`` seconds, at the end, and on Ctrl-C; ``resume=True`` continues
    from it (with the next epoch) if it was made with the same ``config``.

    Example::

        result = train(whisper, train_set, held_out, TrainConfig(epochs=3, max_steps=20))
    """
    config = config or TrainConfig()
    torch = require_torch()
    say = log or (lambda message: None)
    streamed = callable(train_set)
    if streamed and config.max_steps is None:
        raise ConfigError("streamed training data needs a step limit (max_steps)")
    if not streamed and not train_set:
        raise ConfigError("there is nothing to train on: the training split is empty")
    torch.manual_seed(config.seed)
    model = whisper.model
    model.train()
    model.model.encoder.requires_grad_(config.train_encoder)
    # The sinusoidal encoder positions are fixed in Whisper; keep them so.
    model.model.encoder.embed_positions.requires_grad_(False)
    model.model.decoder.embed_tokens.requires_grad_(config.train_embeddings)
    collate = Collator(whisper)
    cache = None if config.train_encoder else _EncoderCache(_ENCODER_CACHE_BUDGET)
    if cache is not None:
        model.model.encoder.eval()  # no dropout where nothing is learnt

    if callable(train_set):
        steps_per_epoch = total_steps = config.max_steps or 1
    else:
        steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
        total_steps = min(steps_per_epoch * config.epochs, config.max_steps or 1 << 62)
    eval_every = config.eval_every or steps_per_epoch
    run = _Run(whisper, config, total_steps)
    last = None if checkpoints is None else checkpoints / LAST
    if last is not None and resume and last.is_file():
        if run.restore(last):
            say(f"resumed from {last} at step {run.progress.step}")
        else:
            say(f"{last} was made with other training options: starting afresh")
    p = run.progress
    started = time.monotonic() - (p.history[-1].seconds if p.history else 0.0)
    saved_at = time.monotonic()
    stopped_early = False
    bar = tqdm(
        total=total_steps,
        initial=p.step,
        desc="fine-tuning",
        unit="step",
        disable=not progress,
        leave=False,
    )

    def note(message: str) -> None:
        with tqdm.external_write_mode():
            say(message)

    running: list[float] = []
    epoch = p.epoch
    try:
        for epoch in range(p.epoch, config.epochs):
            # A different, reproducible shuffle per epoch, the same after a resume.
            order = random.Random(config.seed * 100_003 + epoch)
            for batch in _batches(train_set, config.batch_size, order):
                if p.step >= total_steps:
                    break
                loss = _loss(model, collate, batch, cache)
                run.step(loss)
                running.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{running[-1]:.3f}", epoch=epoch + 1)
                if p.step % eval_every and p.step != total_steps:
                    continue
                eval_loss = _eval_loss(model, collate, held_out, config.batch_size, cache)
                record = EvalRecord(
                    epoch + 1,
                    p.step,
                    round(sum(running) / len(running), 4),
                    None if eval_loss is None else round(eval_loss, 4),
                    round(time.monotonic() - started, 1),
                )
                running = []
                p.history.append(record)
                held = "-" if eval_loss is None else f"{eval_loss:.3f}"
                note(
                    f"epoch {record.epoch} step {p.step}/{total_steps}: train loss "
                    f"{record.train_loss:.3f}, held-out loss {held}"
                )
                run.judge(eval_loss if eval_loss is not None else record.train_loss)
                if config.patience and p.stale >= config.patience:
                    stopped_early = True
                    break
                if last is not None and time.monotonic() - saved_at >= checkpoint_interval:
                    run.save(last)
                    saved_at = time.monotonic()
            p.epoch = epoch + 1
            if stopped_early or p.step >= total_steps:
                break
    except KeyboardInterrupt:
        if last is not None and p.step:
            p.epoch = epoch + 1  # the interrupted epoch counts as done
            run.save(last)
            note(f"interrupted: progress saved in {last}; continue with --resume")
        raise
    finally:
        bar.close()
    if last is not None:
        run.save(last)
    if p.best_state is not None:
        model.load_state_dict(p.best_state, strict=False)
    model.eval()
    if stopped_early:
        note(f"stopped early: no better held-out loss for {config.patience} evaluations")
    return TrainResult(
        tuple(p.history),
        p.step,
        p.best_step,
        None if p.best_loss is None else round(p.best_loss, 4),
        stopped_early,
        round(time.monotonic() - started, 1),
    )
