"""A bounded pool of model workers that every session of the server shares.

Each worker is one thread that owns one whisper.cpp context per served model, loaded
once at start and used by that thread only. Sessions do not own workers: a session's
:class:`~livewhisper.dictation.Dictation` gets a :class:`PooledEngine`, whose
``transcribe`` hands the chunk to the pool and waits for whichever worker is free. So
memory is fixed by the number of workers, an idle session costs no context, and more
sessions than workers simply queue (each session has at most one decode waiting, because
its transcriber waits for the result).

Live sessions come first: file transcription jobs decode through *background* engines
(``pool.engine(model, background=True)``), whose requests a free worker takes only when no
live decode is waiting. A job decodes one utterance at a time, so it holds at most one
worker at any moment and a live decode waits for at most the utterance in progress.
Among live sessions, one whose client sends audio ahead of real time (its engine's
:attr:`PooledEngine.ahead` set by the session) waits for the others: its backlog is its
own doing, and must not delay the finals of sessions that keep time.
Models besides those the pool was made with can be added while it runs
(:meth:`ModelPool.add_model`): each worker loads one on the first decode that needs it and
frees it after :data:`ON_DEMAND_IDLE` seconds without use.

Why not a pool of :class:`~livewhisper.engine.Engine` objects lent to sessions? An
``Engine`` makes a context for each thread that calls it and keeps it until closed;
every session's transcriber is a new thread, so every session would leave one more
context behind.

Example::

    pool = ModelPool(["tiny.en-q8_0"], workers=2).start()
    dictation = Dictation(pool.engine(), source="push", language="en")
    ...
    pool.close()
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from livewhisper.audio.decode import SAMPLE_RATE, as_mono_float32
from livewhisper.engine import DecodeOptions, Engine
from livewhisper.errors import ConfigError, DecodeCancelled, LiveWhisperError
from livewhisper.events import Transcription
from livewhisper.models.ggml import read_ggml
from livewhisper.models.resolve import resolve

__all__ = ["ModelPool", "PoolStats", "PooledEngine", "default_workers"]

log = logging.getLogger("livewhisper.server")

# Long enough for a 30 s chunk of a large model on a slow CPU behind a queue of others; a
# decode that takes longer than this is stuck, and the session should hear about it.
DECODE_TIMEOUT = 300.0
_POLL = 0.5

ON_DEMAND_IDLE = 120.0
"""Seconds a worker keeps a model added with :meth:`ModelPool.add_model` after its last use."""

# Queue priorities: lower first. Within a priority, requests keep their order.
_LIVE = 0
_AHEAD = 1  # a live session whose client sends faster than real time
_BACKGROUND = 2


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
    priority: int = 0  # _LIVE


@dataclass(frozen=True)
class PoolStats:
    """What the pool is doing: workers, those decoding now, decodes waiting, decodes done.

    Example: ``pool.stats.busy == pool.stats.workers`` means every worker is decoding.
    """

    workers: int
    busy: int
    waiting: int
    decodes: int


@dataclass(frozen=True)
class _ModelInfo:
    path: Path
    multilingual: bool
    encoder_layers: int
    on_demand: bool = False

    @classmethod
    def read(cls, path: Path, *, on_demand: bool = False) -> _ModelInfo:
        hparams = read_ggml(path).hparams
        return cls(path, hparams.multilingual, hparams.n_audio_layer, on_demand)


class ModelPool:
    """``workers`` threads, each with one whisper.cpp context per model, decoding in turn.

    ``models`` are names or paths; the first is the default. :meth:`start` resolves and
    loads them all (raising the first error, so a bad model fails at startup rather than
    in a session); ``threads`` is the CPU threads of each decode (see
    :func:`default_workers`).

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
        decode_timeout: float = DECODE_TIMEOUT,
    ) -> None:
        if not models:
            raise ConfigError("the pool needs at least one model")
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, not {workers}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, not {threads}")
        self.models: tuple[str, ...] = tuple(dict.fromkeys(str(m) for m in models))
        self.workers = workers
        self.threads = threads or default_workers(workers)[1]
        self.decode_timeout = decode_timeout
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
        self._decodes = 0
        self._started = False

    @property
    def default_model(self) -> str:
        """The model sessions get when they name none."""
        return self.models[0]

    def multilingual(self, model: str | None = None) -> bool:
        """Whether ``model`` (default: the default model) decodes languages other than English."""
        return self._model_info(model or self.default_model).multilingual

    def start(self, timeout: float = 600.0) -> ModelPool:
        """Resolve every model (converting or downloading it if need be), load the workers.

        Returns ``self``; raises the first load error, after stopping the workers.
        """
        if self._started:
            return self
        self._started = True
        for name in self.models:
            path = resolve(name)
            self._info[name] = _ModelInfo.read(path)
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
        info = self._model_info(name)
        return PooledEngine(self, name, info, background=background)

    def add_model(self, model: str) -> None:
        """Serve ``model`` too, from now on, without loading it yet.

        Resolves it first (converting a bundled model may take a while: call this off the
        event loop). Each worker loads it on the first decode that asks for it and frees
        it after :data:`ON_DEMAND_IDLE` seconds without use, so a model picked once for a
        file does not hold memory for good. A model the pool already serves is left as is.

        Example::

            pool.add_model("base-q8_0")
            engine = pool.engine("base-q8_0", background=True)
        """
        if model in self._info:
            return
        path = resolve(model)
        info = _ModelInfo.read(path, on_demand=True)
        with self._lock:
            self._info.setdefault(model, info)

    def serves(self, model: str) -> bool:
        """Whether ``model`` can be decoded now (started with it, or added).

        Example: ``pool.serves("tiny.en-q8_0")``.
        """
        return model in self._info

    @property
    def stats(self) -> PoolStats:
        """A snapshot of the workers' load."""
        with self._lock:
            return PoolStats(self.workers, self._busy, len(self._requests), self._decodes)

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

    # -- used by PooledEngine ----------------------------------------------------------
    def submit(
        self,
        model: str,
        audio: npt.NDArray[np.float32],
        options: DecodeOptions,
        cancel: threading.Event,
        *,
        background: bool = False,
        ahead: bool = False,
    ) -> concurrent.futures.Future[Transcription]:
        """Queue one decode; the future holds its result or its exception.

        Setting ``cancel`` skips the decode if it has not started, and stops it early
        (:class:`~livewhisper.errors.DecodeCancelled`) if it has. A ``background`` decode
        starts only when no live one is waiting; an ``ahead`` one (a session whose client
        runs ahead of real time) only when no live one of a session keeping time is.
        """
        future: concurrent.futures.Future[Transcription] = concurrent.futures.Future()
        if self._closed.is_set() or not self._started:
            future.set_exception(LiveWhisperError("the model pool is not running"))
            return future
        priority = _BACKGROUND if background else _AHEAD if ahead else _LIVE
        request = _Request(model, audio, options, cancel, future, priority)
        if not self._requests.put(request):
            future.set_exception(LiveWhisperError("the model pool's queue is full"))
        return future

    # -- internals ---------------------------------------------------------------------
    def _model_info(self, name: str) -> _ModelInfo:
        info = self._info.get(name)
        if info is None:
            served = ", ".join(self.models)
            raise ConfigError(f"model {name!r} is not served here; this server has: {served}")
        return info

    def _work(self) -> None:
        engines: dict[str, Engine] = {}
        try:
            # Created on this thread, so each Engine's one context belongs to this worker.
            for name in self.models:
                engines[name] = Engine(self._info[name].path, threads=self.threads)
        except BaseException as exc:
            self._load_errors.append(exc)
            self._loaded.release()
            for engine in engines.values():
                engine.close()
            return
        self._loaded.release()
        last_used: dict[str, float] = {}
        try:
            while not self._closed.is_set():
                request = self._requests.get(timeout=_POLL)
                if request is None:
                    self._unload_idle(engines, last_used)
                    continue
                try:
                    if request.model not in engines:
                        loaded = self._load_on_demand(request)
                        if loaded is None:
                            continue
                        engines[request.model] = loaded
                    self._run(engines[request.model], request)
                finally:
                    self._requests.done(request)
                if self._info[request.model].on_demand:
                    last_used[request.model] = time.monotonic()
                self._unload_idle(engines, last_used)
        finally:
            for engine in engines.values():
                engine.close()

    def _load_on_demand(self, request: _Request) -> Engine | None:
        """A context for a model added while running, made on this worker's thread."""
        try:
            return Engine(self._info[request.model].path, threads=self.threads)
        except BaseException as exc:
            if request.future.set_running_or_notify_cancel():
                request.future.set_exception(exc)
            return None

    def _unload_idle(self, engines: dict[str, Engine], last_used: dict[str, float]) -> None:
        now = time.monotonic()
        for name in [n for n, t in last_used.items() if now - t > ON_DEMAND_IDLE]:
            engines.pop(name).close()
            del last_used[name]

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
                self._decodes += 1

    def _cancel_waiting(self) -> None:
        for request in self._requests.drain():
            request.future.cancel()


class _DecodeQueue:
    """Waiting decodes: live first, then those of sessions ahead of real time, then
    background ones; in order of arrival within each. At most ``ahead_limit`` ahead
    decodes run at once (all workers but one), so a session keeping time always finds a
    worker soon, however many clients send faster than real time."""

    def __init__(self, ahead_limit: int, maxsize: int) -> None:
        self.ahead_limit = ahead_limit
        self.maxsize = maxsize
        self._waiting: dict[int, collections.deque[_Request]] = {
            priority: collections.deque() for priority in (_LIVE, _AHEAD, _BACKGROUND)
        }
        self._ahead_running = 0
        self._changed = threading.Condition()

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._waiting.values())

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
            requests = [r for waiting in self._waiting.values() for r in waiting]
            for waiting in self._waiting.values():
                waiting.clear()
            return requests

    def _take(self) -> _Request | None:
        if self._waiting[_LIVE]:
            return self._waiting[_LIVE].popleft()
        if self._waiting[_AHEAD] and self._ahead_running < self.ahead_limit:
            self._ahead_running += 1
            return self._waiting[_AHEAD].popleft()
        if self._waiting[_BACKGROUND]:
            return self._waiting[_BACKGROUND].popleft()
        return None


class PooledEngine:
    """The :class:`~livewhisper.engine.SpeechModel` a session hands its ``Dictation``.

    It loads nothing itself: :meth:`transcribe` runs on a free worker of its
    :class:`ModelPool` and blocks the calling thread (the session's transcriber) until
    the result is in. :meth:`close` cancels the decodes of this session still waiting and
    makes later calls fail at once, so a session that ends costs the workers nothing more;
    the decode it is running, if any, stops early.

    Example::

        engine = pool.engine()
        print(engine.transcribe(samples, DecodeOptions(language="en")).text)
        engine.close()                  # closes this handle only, never the pool
    """

    def __init__(
        self,
        pool: ModelPool,
        model: str,
        info: _ModelInfo,
        *,
        background: bool = False,
    ) -> None:
        self.path = info.path
        self.model_name = model
        self.threads = pool.threads
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
        cancel = cancel or threading.Event()
        with self._pending_lock:
            if self._handle_closed:
                raise DecodeCancelled("this session's engine is closed")
            future = self._pool.submit(
                self.model_name,
                samples,
                options or DecodeOptions(),
                cancel,
                background=self.background,
                ahead=self.ahead,
            )
            self._pending[future] = cancel
        try:
            return future.result(timeout=self._pool.decode_timeout)
        except concurrent.futures.CancelledError:
            raise DecodeCancelled("the decode was cancelled: the session ended") from None
        except concurrent.futures.TimeoutError:
            cancel.set()
            future.cancel()
            raise LiveWhisperError(
                f"no decode result within {self._pool.decode_timeout:g} s: the server is "
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
