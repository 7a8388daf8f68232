"""A bounded pool of model workers that every session of the server shares.

Each worker is a thread owning one whisper.cpp context per served model, loaded at
start and used by that thread only (an :class:`~livewhisper.engine.Engine` would make a
context per calling thread, and every session's transcriber is a new thread). A session's
:class:`~livewhisper.dictation.Dictation` gets a :class:`PooledEngine`, whose
``transcribe`` queues the chunk and waits for a free worker: memory is fixed by the
number of workers, and more sessions than workers queue.

The queue serves live decodes first; then those of sessions whose client sends ahead of
real time (:attr:`PooledEngine.ahead`: their backlog is their own doing), on all workers
but one at most; then *background* ones (file jobs, one utterance at a time, so a live
decode waits for at most the utterance in progress).

Example::

    pool = ModelPool(["tiny.en-q8_0"], workers=2).start()
    dictation = Dictation(pool.engine(), source="push", language="en")
    ...
    pool.close()
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from livewhisper.audio.decode import SAMPLE_RATE, as_mono_float32
from livewhisper.engine import DecodeOptions, Engine, check_options
from livewhisper.errors import ConfigError, DecodeCancelled, DecodeOptionsError, LiveWhisperError
from livewhisper.events import Transcription
from livewhisper.models.ggml import read_ggml
from livewhisper.models.names import is_model_name
from livewhisper.models.resolve import resolve

__all__ = ["ModelPool", "PoolStats", "PooledEngine", "default_workers"]

# Long enough for a 30 s chunk of a large model on a slow CPU behind a queue of others; a
# decode that takes longer than this is stuck, and the session should hear about it.
DECODE_TIMEOUT = 300.0
_POLL = 0.5
# Queue priorities, first served first: live, live ahead of real time, background.
_LIVE, _AHEAD, _BACKGROUND = 0, 1, 2


def default_workers(max_sessions: int, cpus: int | None = None) -> tuple[int, int]:
    """``(workers, threads per worker)`` for a server taking ``max_sessions`` sessions.

    One worker per session up to one per core, and the cores shared out among them:
    several single-threaded decodes in parallel get more done than one decode on many
    threads, and one session alone still gets several threads on a big machine.

    Example::

        >>> default_workers(4, cpus=2), default_workers(4, cpus=8), default_workers(1, cpus=8)
        ((2, 1), (4, 2), (1, 8))
    """
    cores = max(1, cpus if cpus is not None else os.cpu_count() or 1)
    workers = max(1, min(max_sessions, cores))
    return workers, max(1, min(8, cores // workers))


@dataclass
class _Request:
    model: str
    audio: npt.NDArray[np.float32] = field(repr=False)
    options: DecodeOptions
    cancel: threading.Event
    future: concurrent.futures.Future[Transcription]
    priority: int


@dataclass(frozen=True)
class PoolStats:
    """Workers, those decoding now, decodes waiting.

    Example: ``pool.stats.busy == pool.stats.workers`` means every worker is decoding.
    """

    workers: int
    busy: int
    waiting: int


@dataclass(frozen=True)
class _ModelInfo:
    path: Path
    multilingual: bool
    encoder_layers: int


def not_served(name: str, served: Sequence[str], aliases: Sequence[str] = ()) -> str:
    """The one-line refusal of a model the server was not started with, naming the fix;
    ``aliases``: other names the protocol accepts for the default, ``served[0]``. A name
    livewhisper does not know gets no ``-m`` advice it would refuse; a Hugging Face style
    name (``openai/whisper-small``) is told livewhisper's own (``small``).

    Example:
        >>> print(not_served("base", ["tiny"]))
        model 'base' is not served here; this server has tiny (start it with -m base to add it)
        >>> not_served("whisper-large-v3", ["tiny"], ["whisper-1"]).split("; ")[1:]
        ['this server has tiny (whisper-1 means tiny)', "livewhisper calls it 'large-v3' (start \
the server with -m large-v3 to add it)"]
    """
    means = f" ({', '.join(aliases)} {'means' if len(aliases) == 1 else 'mean'} {served[0]})"
    has = f"this server has {', '.join(served)}{means if aliases and served else ''}"
    own = name.rsplit("/", 1)[-1].removeprefix("whisper-")
    if is_model_name(name) or name.endswith(".bin"):
        fix = f" (start it with -m {name} to add it)"
    elif own != name and is_model_name(own):
        fix = f"; livewhisper calls it {own!r} (start the server with -m {own} to add it)"
    else:
        fix = "; it is not a model livewhisper knows ('livewhisper models' lists them)"
    return f"model {name!r} is not served here; {has}{fix}"


def multilingual_remedy(multilingual_served: Sequence[str]) -> str:
    """How a client reaches a language an English-only model lacks, on a server that
    serves the multilingual models ``multilingual_served``: the end of the refusal.

    Example:
        >>> multilingual_remedy(["base-q8_0"])
        "ask for model 'base-q8_0', which this server also serves"
        >>> multilingual_remedy([])
        'this server serves no multilingual model (start it with -m base-q8_0 as well)'
    """
    if multilingual_served:
        return f"ask for model {multilingual_served[0]!r}, which this server also serves"
    return "this server serves no multilingual model (start it with -m base-q8_0 as well)"


class ModelPool:
    """``workers`` threads, each with one whisper.cpp context per model, decoding in turn.

    ``models`` are names or paths; the first is the default. :meth:`start` resolves and
    loads them all (raising the first error, so a bad model fails at startup rather than
    in a session); ``threads`` is the CPU threads of each decode (see
    :func:`default_workers`). Raises :class:`ConfigError` for no model or a count below 1.

    Example::

        with ModelPool(["tiny.en-q8_0", "base-q8_0"], workers=2) as pool:
            engine = pool.engine("base-q8_0")       # hand it to a Dictation
    """

    def __init__(
        self,
        models: Sequence[str],
        *,
        workers: int = 1,
        threads: int | None = None,
    ) -> None:
        if not models:
            raise ConfigError("the pool needs at least one model")
        for name, count in (("workers", workers), ("threads", threads or 1)):
            if count < 1:
                raise ConfigError(f"{name} must be at least 1, not {count}")
        self.models: tuple[str, ...] = tuple(dict.fromkeys(str(m) for m in models))
        self.workers = workers
        self.threads = threads or default_workers(workers)[1]
        self._info: dict[str, _ModelInfo] = {}
        # At most one request per session or job waits here (its caller blocks on it), so
        # the bound is only a backstop against a bug that would queue without limit.
        self._requests = _DecodeQueue(ahead_limit=max(1, workers - 1), maxsize=4096)
        self._threads: list[threading.Thread] = []
        self._loaded = threading.Semaphore(0)
        self._load_errors: list[BaseException] = []
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._busy = 0
        self._started = False

    @classmethod
    def for_sessions(
        cls, models: Sequence[str], max_sessions: int, workers: int | None, threads: int | None
    ) -> ModelPool:
        """A pool, not started, for a server of ``max_sessions`` sessions: ``workers`` and
        ``threads`` where they are not None, else as :func:`default_workers` says."""
        default, per_worker = default_workers(max_sessions)
        return cls(models, workers=workers or default, threads=threads or per_worker)

    @property
    def default_model(self) -> str:
        """The model sessions get when they name none."""
        return self.models[0]

    def multilingual(self, model: str | None = None) -> bool:
        """Whether ``model`` (default: the default model) decodes languages other than English."""
        return self._model_info(model or self.default_model).multilingual

    def language(self, language: str | None, model: str | None = None) -> str | None:
        """``language`` (a code or English name; None detects) as ``model`` (default: the
        default model) decodes it: ``"en"`` for ``"English"``, and only ``"en"`` on an
        English-only model (:func:`~livewhisper.engine.check_options`, the one rule every
        protocol applies). Raises :class:`DecodeOptionsError` for one it cannot decode."""
        name = model or self.default_model
        options = DecodeOptions(language=language)
        return check_options(
            options, name, self.multilingual(name), remedy=self.multilingual_remedy()
        )

    def multilingual_remedy(self) -> str:
        """The end of the refusal of a language an English-only model lacks: a
        multilingual model this server serves, or how to start one."""
        return multilingual_remedy([m for m in self.models if self.multilingual(m)])

    def check_language(self, language: str | None) -> str | None:
        """:meth:`language` for a server's own default: :class:`ConfigError` if refused."""
        try:
            return self.language(language)
        except DecodeOptionsError as exc:
            raise ConfigError(str(exc)) from None

    def start(self, timeout: float = 600.0) -> ModelPool:
        """Resolve every model (converting or downloading it if need be), load the workers.

        Returns ``self``; raises the first load error, after stopping the workers.
        """
        if self._started:
            return self
        self._started = True
        for name in self.models:
            path = resolve(name)
            hparams = read_ggml(path).hparams
            self._info[name] = _ModelInfo(path, hparams.multilingual, hparams.n_audio_layer)
        for index in range(self.workers):
            thread = threading.Thread(
                target=self._work, name=f"livewhisper-model-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + timeout
        for _ in self._threads:
            if not self._loaded.acquire(timeout=max(0.0, deadline - time.monotonic())):
                self.close()
                raise LiveWhisperError(f"the model workers did not load within {timeout:g} s")
        if self._load_errors:
            self.close()
            raise self._load_errors[0]
        return self

    def engine(self, model: str | None = None, *, background: bool = False) -> PooledEngine:
        """An :class:`~livewhisper.engine.Engine` for one session, decoding on this pool.

        ``background`` engines (file jobs) wait while any live decode is waiting. Raises
        :class:`ConfigError` if ``model`` is not one the pool serves.
        """
        name = model or self.default_model
        return PooledEngine(self, name, self._model_info(name), background=background)

    @property
    def stats(self) -> PoolStats:
        """A snapshot of the workers' load."""
        with self._lock:
            return PoolStats(self.workers, self._busy, len(self._requests))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers after their current decode; cancel decodes still waiting."""
        self._closed.set()
        self._cancel_waiting()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._cancel_waiting()  # anything submitted while the workers were stopping

    def __enter__(self) -> ModelPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _submit(self, request: _Request) -> None:
        if self._closed.is_set() or not self._started:
            raise LiveWhisperError("the model pool is not running")
        if not self._requests.put(request):
            raise LiveWhisperError("the model pool's queue is full")

    def _model_info(self, name: str) -> _ModelInfo:
        info = self._info.get(name)
        if info is None:
            raise ConfigError(not_served(name, self.models))
        return info

    def _work(self) -> None:
        engines: dict[str, Engine] = {}
        try:
            # Created on this thread, so each Engine's one context belongs to this worker.
            for name in self.models:
                engines[name] = Engine(self._info[name].path, threads=self.threads)
        except BaseException as exc:
            self._load_errors.append(exc)
        finally:
            self._loaded.release()
        try:
            while not self._load_errors and not self._closed.is_set():
                request = self._requests.get(timeout=_POLL)
                if request is not None:
                    try:
                        self._run(engines[request.model], request)
                    finally:
                        self._requests.done(request)
        finally:
            for engine in engines.values():
                engine.close()

    def _run(self, engine: Engine, request: _Request) -> None:
        if not request.future.set_running_or_notify_cancel():
            return  # its session ended while it waited
        if request.cancel.is_set():
            # Superseded while it waited (a final came for its utterance): skip it.
            request.future.set_exception(DecodeCancelled("the decode was cancelled"))
            return
        with self._lock:
            self._busy += 1
        try:
            result = engine.transcribe(request.audio, request.options, cancel=request.cancel)
        except BaseException as exc:
            request.future.set_exception(exc)
        else:
            request.future.set_result(result)
        finally:
            with self._lock:
                self._busy -= 1

    def _cancel_waiting(self) -> None:
        for request in self._requests.drain():
            request.future.cancel()


class _DecodeQueue:
    """Waiting decodes by priority, in order of arrival within each; at most
    ``ahead_limit`` decodes of sessions ahead of real time run at once."""

    def __init__(self, ahead_limit: int, maxsize: int) -> None:
        self.ahead_limit = ahead_limit
        self.maxsize = maxsize
        self._waiting = [collections.deque[_Request]() for _ in (_LIVE, _AHEAD, _BACKGROUND)]
        self._ahead_running = 0
        self._changed = threading.Condition()

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._waiting)

    def put(self, request: _Request) -> bool:
        """Queue ``request``; False if ``maxsize`` already wait."""
        with self._changed:
            if len(self) >= self.maxsize:
                return False
            self._waiting[request.priority].append(request)
            self._changed.notify()
            return True

    def get(self, timeout: float) -> _Request | None:
        """The next request a worker may take, or None after ``timeout`` s."""
        with self._changed:
            return self._changed.wait_for(self._take, timeout)

    def done(self, request: _Request) -> None:
        """A worker is done with ``request`` (taken by :meth:`get`)."""
        if request.priority == _AHEAD:
            with self._changed:
                self._ahead_running -= 1
                self._changed.notify_all()

    def drain(self) -> list[_Request]:
        """Every waiting request, removed."""
        with self._changed:
            requests = [r for waiting in self._waiting for r in waiting]
            for waiting in self._waiting:
                waiting.clear()
            return requests

    def _take(self) -> _Request | None:
        live, ahead, background = self._waiting
        if live:
            return live.popleft()
        if ahead and self._ahead_running < self.ahead_limit:
            self._ahead_running += 1
            return ahead.popleft()
        return background.popleft() if background else None


class PooledEngine:
    """The :class:`~livewhisper.engine.SpeechModel` a session hands its ``Dictation``.

    :meth:`transcribe` runs on a free worker of the pool and blocks the calling thread
    (the session's transcriber) until the result is in; :meth:`close` cancels this
    handle's decodes and makes later calls fail at once.

    Example::

        engine = pool.engine()
        print(engine.transcribe(samples, DecodeOptions(language="en")).text)
        engine.close()                  # closes this handle only, never the pool
    """

    def __init__(
        self, pool: ModelPool, model: str, info: _ModelInfo, *, background: bool = False
    ) -> None:
        self.path = info.path
        self.model_name = model
        self.multilingual = info.multilingual
        self.encoder_layers = info.encoder_layers
        self.background = background
        self.ahead = False
        """Set by the session while its client sends faster than real time: its decodes
        then wait for those of sessions that keep time."""
        self._pool = pool
        self._pending: dict[concurrent.futures.Future[Transcription], threading.Event] = {}
        self._pending_lock = threading.Lock()
        self._handle_closed = False

    def transcribe(
        self,
        audio: npt.ArrayLike,
        options: DecodeOptions | None = None,
        *,
        sample_rate: int = SAMPLE_RATE,
        cancel: threading.Event | None = None,
    ) -> Transcription:
        """Decode on the pool; same arguments, result and errors as ``Engine.transcribe``."""
        samples = as_mono_float32(audio, sample_rate)
        # Setting cancel skips the decode if it has not started, and stops it early if it has.
        cancel = cancel or threading.Event()
        future: concurrent.futures.Future[Transcription] = concurrent.futures.Future()
        priority = _BACKGROUND if self.background else _AHEAD if self.ahead else _LIVE
        options = options or DecodeOptions()
        request = _Request(self.model_name, samples, options, cancel, future, priority)
        with self._pending_lock:
            if self._handle_closed:
                raise DecodeCancelled("this session's engine is closed")
            self._pool._submit(request)
            self._pending[future] = cancel
        try:
            return future.result(timeout=DECODE_TIMEOUT)
        except concurrent.futures.CancelledError:
            raise DecodeCancelled("the decode was cancelled: the session ended") from None
        except concurrent.futures.TimeoutError:
            cancel.set()
            future.cancel()
            raise LiveWhisperError(
                f"no decode result within {DECODE_TIMEOUT:g} s: the server is "
                "overloaded; try fewer sessions or a smaller model"
            ) from None
        finally:
            with self._pending_lock:
                self._pending.pop(future, None)

    def close(self) -> None:
        """Cancel this handle's decodes, waiting or running; the pool carries on."""
        with self._pending_lock:
            self._handle_closed = True
            pending = list(self._pending.items())
        for future, cancel in pending:
            cancel.set()
            future.cancel()
