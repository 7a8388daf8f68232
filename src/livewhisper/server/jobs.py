"""File transcription jobs: queued, run on the model pool beside live sessions, watched.

A :class:`Job` transcribes one uploaded file with
:func:`~livewhisper.filetranscribe.transcribe_file` on a job thread, through a
*background* engine of the :class:`~livewhisper.server.pool.ModelPool`: one utterance
at a time, each decode behind any live one waiting. :class:`JobRegistry` bounds the jobs
running and waiting, and cancels them at shutdown. The event loop sees a job through
:meth:`Job.updates` (the segments new at each change; its progress in seconds of the
file) or :meth:`Job.wait`; a job's state, and the registry's queue, change on the loop.

Example::

    registry = JobRegistry(pool, ServerConfig(max_jobs=1, max_waiting_jobs=4))
    job = registry.submit(request, duration=11.0)
    async for segments in job.updates():
        print(job.state.value, f"{job.progress:.0%}", [s.text for s in segments])
    await registry.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import functools
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from livewhisper.errors import AudioError, DecodeCancelled, LiveWhisperError
from livewhisper.events import Segment, Transcription
from livewhisper.filetranscribe import transcribe_file
from livewhisper.server.config import ServerConfig
from livewhisper.server.errors import Busy, InvalidRequest, ShuttingDown
from livewhisper.server.pool import ModelPool, PooledEngine
from livewhisper.server.uploads import TranscriptionRequest

__all__ = ["Job", "JobRegistry", "JobState"]

log = logging.getLogger("livewhisper.server")


class JobState(str, enum.Enum):
    """Where a job is: waiting, preparing (model, audio), transcribing, or over."""

    QUEUED = "queued"
    PREPARING = "preparing"
    TRANSCRIBING = "transcribing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def over(self) -> bool:
        """Whether the job has ended, one way or another."""
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class Job:
    """One file being transcribed (made by :meth:`JobRegistry.submit`; ``id`` is
    unguessable). One consumer reads :meth:`updates`; anyone may :meth:`wait` or
    :meth:`cancel`.

    Example::

        job = registry.submit(request)
        result = await job.wait()          # or: async for segments in job.updates()
    """

    def __init__(
        self,
        registry: JobRegistry,
        request: TranscriptionRequest,
        duration: float,
        client: str = "",
    ) -> None:
        self.id = secrets.token_hex(8)
        self.request = request
        self.duration = duration
        self.client = client
        self.state = JobState.QUEUED
        self.processed = 0.0
        self.segments: list[Segment] = []
        self.result: Transcription | None = None
        self.error: LiveWhisperError | None = None
        self._registry = registry
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._changed.set()  # the first update (queued) is due at once
        self._over = asyncio.Event()
        self._cancel = threading.Event()
        self._engine: PooledEngine | None = None
        self._engine_lock = threading.Lock()

    @property
    def progress(self) -> float:
        """The share of the file done, 0 to 1."""
        if self.state == JobState.DONE:
            return 1.0
        return min(1.0, self.processed / self.duration) if self.duration > 0 else 0.0

    @property
    def ahead(self) -> int:
        """How many queued jobs will start before this one."""
        return self._registry.ahead(self)

    async def updates(self) -> AsyncIterator[tuple[Segment, ...]]:
        """At each change, the segments new since the last (the job's ``state``,
        ``progress``, ``processed`` seconds, ``result`` and ``error`` say the rest), the
        last with the job over; changes that come while the consumer is busy are merged."""
        sent = 0
        while True:
            await self._changed.wait()
            self._changed.clear()
            new = tuple(self.segments[sent:])
            sent = len(self.segments)
            over = self.state.over
            yield new
            if over:  # as yielded: a job that ended since has one more change to give
                return

    async def wait(self) -> Transcription:
        """The transcription; raises the job's error, or :class:`DecodeCancelled`."""
        await self._over.wait()
        if self.result is not None:
            return self.result
        raise self.error or DecodeCancelled("the job was cancelled")

    def cancel(self) -> None:
        """Stop the job: skipped if queued, its decode stopped early if running."""
        self._cancel.set()
        with self._engine_lock:
            if self._engine is not None:
                self._engine.close()

    # -- on the event loop ---------------------------------------------------------------
    def _update(self, **changes: Any) -> None:
        if self.state.over:
            return
        segment = changes.pop("segment", None)
        if segment is not None:
            self.segments.append(segment)
        for name, value in changes.items():
            setattr(self, name, value)
        if changes.get("state") == JobState.PREPARING:  # one fewer ahead of the queued
            for job in self._registry._jobs.values():
                if job.state == JobState.QUEUED:
                    job._changed.set()
        if self.state.over:
            self._over.set()
        self._changed.set()

    # -- on the job thread ---------------------------------------------------------------
    def _post(self, **changes: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is watching
            self._loop.call_soon_threadsafe(lambda: self._update(**changes))

    def _run(self) -> None:
        request, registry = self.request, self._registry
        try:
            self._post(state=JobState.PREPARING)
            with self._engine_lock:
                if self._cancel.is_set():  # its client left while it was queued
                    raise DecodeCancelled("the job was cancelled")
                self._engine = registry.pool.engine(request.model, background=True)
            self._post(state=JobState.TRANSCRIBING)
            started = time.monotonic()
            # Decoded as it is read, as the command line does: memory flat however long.
            result = transcribe_file(
                request.file.file,
                self._engine,
                request.options,
                on_segment=lambda segment: self._post(segment=segment),
                on_progress=lambda seconds: self._post(processed=seconds),
                max_seconds=registry.config.max_upload_seconds,
                cancel=self._cancel,
            )
            # Measured beside live sessions, whose decodes go first: a floor, not a peak.
            speed = result.duration / max(time.monotonic() - started, 1e-3)
            registry.speeds[request.model] = round(speed, 1)
            self._post(
                state=JobState.DONE,
                result=result,
                processed=result.duration,
                duration=result.duration,
            )
        except DecodeCancelled:
            self._post(state=JobState.CANCELLED)
        except AudioError as exc:
            error = InvalidRequest(
                f"{request.file.filename!r}: {exc}", field="file", reason="invalid_file"
            )
            self._post(state=JobState.FAILED, error=error)
        except LiveWhisperError as exc:
            log.warning("job %s failed: %s", self.id, exc)
            self._post(state=JobState.FAILED, error=exc)
        except Exception:
            log.exception("job %s failed", self.id)
            self._post(state=JobState.FAILED, error=LiveWhisperError("internal server error"))
        finally:
            with self._engine_lock:
                if self._engine is not None:
                    self._engine.close()


class JobRegistry:
    """The file jobs of one server: at most ``config.max_jobs`` at once (each on a thread),
    ``max_waiting_jobs`` queued, ``max_uploads_per_client`` (running or queued) per client
    address.

    A thread that comes free runs the queued job of the client served least recently,
    so one client's files never hold back another's. Create it on the event loop that
    watches the jobs. ``max_upload_seconds`` caps the decoded audio's length (headers may lie).

    Example::

        registry = JobRegistry(pool, ServerConfig(max_jobs=1, max_waiting_jobs=4))
        job = registry.submit(request, duration=11.0)       # Busy when full
    """

    def __init__(self, pool: ModelPool, config: ServerConfig) -> None:
        self.pool = pool
        self.config = config
        self._queue: list[Job] = []  # not started yet, in order of arrival
        self._last_start: dict[str, float] = {}  # by client: when its last job started
        self.speeds: dict[str, float] = {}
        """Audio seconds transcribed per second, per model, as its last job measured."""
        self._jobs: dict[str, Job] = {}
        self._running: set[asyncio.Future[None]] = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=config.max_jobs, thread_name_prefix="livewhisper-job"
        )
        self._closed = False

    @property
    def running(self) -> int:
        """Jobs started and not over."""
        return len(self._running)

    @property
    def waiting(self) -> int:
        """Jobs queued."""
        return len(self._queue)

    def check_room(self, client: str | None = None) -> None:
        """Raise :class:`~livewhisper.server.errors.Busy` (or ``ShuttingDown``) unless
        :meth:`submit` would take one more job now (from ``client``, if given)."""
        if self._closed:
            raise ShuttingDown("the server is stopping")
        if len(self._jobs) >= self.config.max_jobs + self.config.max_waiting_jobs:
            raise Busy(
                f"{len(self._jobs)} files are being transcribed or waiting, the most this "
                "server takes: try again in a few minutes"
            )
        mine = sum(1 for job in self._jobs.values() if job.client == client)
        if client is not None and mine >= self.config.max_uploads_per_client:
            raise Busy(
                f"this address has {self.config.max_uploads_per_client} files being "
                "transcribed or waiting, the most one client may have: try again when one is done"
            )

    def ahead(self, job: Job) -> int:
        """How many queued jobs will start before ``job`` (round robin over clients)."""
        queue, last = list(self._queue), dict(self._last_start)
        now = time.monotonic()
        for count in range(len(queue)):
            following = _fairest(queue, last)
            if following is job:
                return count
            queue.remove(following)
            last[following.client] = now + count  # started after everything before it
        return 0

    def submit(self, request: TranscriptionRequest, duration: float, client: str = "") -> Job:
        """Queue a job for ``request`` (``duration``: the file's length as probed) from
        address ``client``.

        The job owns the uploaded file from now on and closes it when it ends. Raises
        :class:`~livewhisper.server.errors.Busy` when the queue is full,
        :class:`~livewhisper.server.errors.ShuttingDown` once closing.
        """
        self.check_room(client)
        job = Job(self, request, duration, client)
        self._jobs[job.id] = job
        self._queue.append(job)
        # Not the file's name: it may say as much as the words, which are never logged.
        log.info("job %s from %s: %.1f s, model %s", job.id, client, duration, request.model)
        self._start_next()
        return job

    async def close(self, timeout: float = 5.0) -> None:
        """Cancel every job and wait (at most ``timeout`` s) for their threads."""
        self._closed = True
        for job in list(self._jobs.values()):
            job.cancel()
        if self._running:
            await asyncio.wait(self._running, timeout=timeout)
        self._executor.shutdown(wait=False)
        never_run, self._queue = self._queue, []
        for job in never_run:
            self._finished(job)

    def _start_next(self) -> None:
        """While a job thread is free, start the queued job of the client served least
        recently."""
        while self._queue and len(self._running) < self.config.max_jobs and not self._closed:
            job = _fairest(self._queue, self._last_start)
            self._queue.remove(job)
            self._last_start[job.client] = time.monotonic()
            future = asyncio.get_running_loop().run_in_executor(self._executor, job._run)
            self._running.add(future)
            future.add_done_callback(functools.partial(self._ran, job))

    def _ran(self, job: Job, future: asyncio.Future[None]) -> None:
        self._running.discard(future)
        self._finished(job)
        self._start_next()

    def _finished(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        if not job.state.over:  # the thread never ran (shutdown): settle it here
            job._update(state=JobState.CANCELLED)
        with contextlib.suppress(OSError):
            job.request.file.file.close()
        words = len(job.result.text.split()) if job.result is not None else 0
        log.info(
            "job %s %s: %d words from %.1f s of audio",
            job.id,
            job.state.value,
            words,
            job.processed,
        )


def _fairest(queue: list[Job], last_start: dict[str, float]) -> Job:
    """The queued job of the client whose last job started longest ago (first come first
    within one client)."""
    return min(queue, key=lambda job: last_start.get(job.client, -1.0))  # ties: the first queued
