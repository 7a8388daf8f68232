"""One safe, fast call into whisper.cpp: audio in, typed segments and words out.

:class:`Engine` owns one whisper.cpp context per calling thread (a context is never
shared between threads) and takes an immutable :class:`DecodeOptions` per call, so no
option can leak from one call into the next. Audio is validated and made contiguous
float32 before whisper.cpp sees it; chunks under 1 s are padded (whisper.cpp drops
them otherwise) and, for greedy decoding, the encoder's ``audio_ctx`` is sized to the
chunk, which makes short chunks several times faster.

Example::

    with Engine("tiny.en-q8_0") as engine:
        result = engine.transcribe(audio, DecodeOptions(language="en"))
        print(result.text, result.words[0])
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from livewhisper import cpu
from livewhisper.audio.decode import SAMPLE_RATE, as_mono_float32
from livewhisper.errors import (
    AudioError,
    ClosedError,
    DecodeCancelled,
    DecodeOptionsError,
    LiveWhisperError,
)
from livewhisper.events import Segment, Transcription, Word
from livewhisper.models.ggml import read_ggml
from livewhisper.models.names import DEFAULT_MODEL
from livewhisper.models.resolve import model_terms, resolve

# The options' names, where callers have always found them.
from livewhisper.options import MAX_AUDIO_CTX as MAX_AUDIO_CTX
from livewhisper.options import DecodeOptions as DecodeOptions
from livewhisper.options import audio_ctx_for as audio_ctx_for
from livewhisper.options import check_options as check_options
from livewhisper.spelling import spell_transcription
from livewhisper.vocabulary import fit_prompt

MIN_SECONDS = 1.05  # whisper.cpp silently skips input under 1 s


def _pw() -> Any:
    import _pywhispercpp

    _quiet_logs(_pywhispercpp)
    return _pywhispercpp


class SpeechModel(Protocol):
    """What the streaming core needs of a model: an :class:`Engine`, or a handle that
    decodes elsewhere (the server's worker pool).

    Example: ``Dictation(model=my_speech_model, source="push")``.
    """

    model_name: str
    multilingual: bool
    encoder_layers: int  # 4 for tiny, 6 for base, 12 for small

    def transcribe(
        self,
        audio: npt.ArrayLike,
        options: DecodeOptions | None = None,
        *,
        sample_rate: int = SAMPLE_RATE,
        cancel: threading.Event | None = None,
    ) -> Transcription:
        """Decode ``audio``, as :meth:`Engine.transcribe` does."""
        ...

    def close(self) -> None:
        """Release what the model holds."""
        ...


@dataclass
class _Context:
    handle: Any  # None once freed: a thread may still hold the context after close()
    lock: threading.Lock = field(default_factory=threading.Lock)


class Engine:
    """A whisper.cpp model ready to transcribe; one context per thread that calls it.

    ``model`` is a name (``"base-q8_0"``) or a path, resolved with
    :func:`livewhisper.models.resolve`; ``threads`` is the number of CPU threads per call.
    By default (None) each call takes the cores other programs have left idle since the
    calling thread's previous call, at least one and at most all (8 at most): whisper.cpp
    on more threads than free cores runs several times slower (:mod:`livewhisper.cpu`).

    The same audio and options can give a word or two apart from one call to the next:
    with flash attention (whisper.cpp's default), a context shorter than 30 s also
    attends to encoder rows left by the thread's previous decode (whisper.cpp PR #3941).
    livewhisper keeps the default, as exact attention decodes short contexts worse; the
    figures are in docs/performance.md ("The same audio, a word apart").

    Example::

        engine = Engine("base-q8_0", threads=2)
        print(engine.transcribe(samples, DecodeOptions(language="es")).text)
        engine.close()
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, threads: int | None = None) -> None:
        self.path = resolve(model)
        self.model_name = str(model)
        self.terms = model_terms(self.path)
        """The names and words a fine-tuned model learned (its ``livewhisper.json``): every
        decode writes near misses of them as the term, with no prompt
        (:mod:`livewhisper.finetune.terms`); () for other models."""
        self.adaptive_threads = threads is None
        """Whether each call picks its thread count from the idle cores (``threads=None``)."""
        self.threads = threads or min(8, os.cpu_count() or 1)
        """The thread count per call, or the most an adaptive call takes."""
        if self.threads < 1:
            raise DecodeOptionsError("threads must be at least 1")
        self._cpu_at_load = cpu.sample()  # a first interval for the first adaptive call
        header = read_ggml(self.path).hparams
        self.multilingual = header.multilingual
        self.encoder_layers = header.n_audio_layer
        self._local = threading.local()
        self._contexts: list[_Context] = []
        self._registry_lock = threading.Lock()
        self._closed = False
        self._context()  # load now, so a bad model fails here and not mid-stream

    def _context(self) -> _Context:
        ctx: _Context | None = getattr(self._local, "ctx", None)
        if ctx is not None:
            return ctx
        with self._registry_lock:
            if self._closed:
                raise self._closed_error()
            pw = _pw()
            params = pw.whisper_context_default_params()
            params.use_gpu = False
            handle = pw.whisper_init_from_file_with_params(str(self.path), params)
            if handle is None:
                raise LiveWhisperError(f"whisper.cpp could not load {self.path}")
            ctx = _Context(handle)
            self._contexts.append(ctx)
        self._local.ctx = ctx
        return ctx

    def transcribe(
        self,
        audio: npt.ArrayLike,
        options: DecodeOptions | None = None,
        *,
        sample_rate: int = SAMPLE_RATE,
        cancel: threading.Event | None = None,
    ) -> Transcription:
        """Transcribe up to 30 s of mono audio (longer audio is decoded window by window).

        ``audio`` is float (-1..1) or int16 samples at ``sample_rate`` (resampled to 16 kHz
        if need be). Raises :class:`AudioError` for empty, non-finite or misshapen audio.
        Setting ``cancel`` from another thread stops the decode early with
        :class:`DecodeCancelled`. Raises :class:`ClosedError` after :meth:`close`.
        """
        opts = options or DecodeOptions()
        samples = as_mono_float32(audio, sample_rate)
        if samples.size == 0:
            raise AudioError("the audio is empty: nothing to transcribe")
        duration = samples.size / SAMPLE_RATE
        if samples.size < MIN_SECONDS * SAMPLE_RATE:
            padded = np.zeros(int(MIN_SECONDS * SAMPLE_RATE), dtype=np.float32)
            padded[: samples.size] = samples
            samples = padded
        language = check_options(opts, self.model_name, self.multilingual)
        ctx = self._context()
        params = self._params(opts, language, samples.size / SAMPLE_RATE)
        cancel = cancel or threading.Event()
        params.set_abort_callback(cancel.is_set)
        with ctx.lock, _running(cancel):
            if ctx.handle is None:  # close() freed it since this thread last decoded
                raise self._closed_error()
            if opts.vocabulary:
                params.initial_prompt = _vocabulary_prompt(ctx.handle, opts)
            status = _pw().whisper_full(ctx.handle, params, samples, samples.size)
            if cancel.is_set():
                raise DecodeCancelled("the decode was cancelled")
            if status != 0:
                raise LiveWhisperError(f"whisper.cpp failed to decode (status {status})")
            result = self._collect(ctx.handle, duration, language)
        terms = (*opts.vocabulary, *self.terms)
        return spell_transcription(result, terms) if terms else result

    def _threads_now(self) -> int:
        """This call's thread count: fixed, or the cores left idle since this thread's
        previous call (rounded, 1 to :attr:`threads`)."""
        if not self.adaptive_threads:
            return self.threads
        now = cpu.sample()
        last: cpu.CpuSample | None = getattr(self._local, "cpu", self._cpu_at_load)
        threads: int = getattr(self._local, "threads", self.threads)
        if now is not None and last is not None and now.at - last.at >= 0.05:
            free = cpu.free_cores(last, now, os.cpu_count() or 1)
            threads = max(1, min(self.threads, round(free)))
        if now is not None and (last is None or now.at - last.at >= 0.05):
            self._local.cpu = now
        self._local.threads = threads
        return threads

    def _params(self, opts: DecodeOptions, language: str | None, seconds: float) -> Any:
        pw = _pw()
        strategy = (
            pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY
            if opts.beam_size == 1
            else pw.whisper_sampling_strategy.WHISPER_SAMPLING_BEAM_SEARCH
        )
        p = pw.whisper_full_default_params(strategy)
        p.n_threads = self._threads_now()
        p.print_progress = p.print_realtime = p.print_timestamps = p.print_special = False
        p.no_context = True  # prompts are ours to give, per call
        p.token_timestamps = True
        p.language = language or "auto"
        p.detect_language = False
        p.translate = opts.translate
        p.initial_prompt = opts.initial_prompt
        p.temperature = opts.temperature
        p.temperature_inc = opts.temperature_increment
        p.logprob_thold = opts.logprob_threshold
        p.entropy_thold = opts.entropy_threshold
        p.no_speech_thold = opts.no_speech_threshold
        p.suppress_blank = True
        p.suppress_nst = opts.suppress_non_speech
        p.max_tokens = opts.max_tokens
        p.single_segment = opts.single_segment
        if opts.beam_size > 1:
            p.beam_search = {"beam_size": opts.beam_size, "patience": -1.0}
        if opts.audio_ctx is not None:
            p.audio_ctx = opts.audio_ctx
        elif opts.beam_size == 1 and seconds < 30.0:
            p.audio_ctx = audio_ctx_for(seconds)
        else:
            p.audio_ctx = 0
        return p

    def _collect(self, handle: Any, duration: float, language: str | None) -> Transcription:
        pw = _pw()
        eot = pw.whisper_token_eot(handle)
        # Every text token of every segment, so that a character whose bytes span two
        # tokens (or two segments) is decoded whole: see utf8_texts.
        tokens = [
            (i, pw.whisper_full_get_token_data(handle, i, j))
            for i in range(pw.whisper_full_n_segments(handle))
            for j in range(pw.whisper_full_n_tokens(handle, i))
        ]
        tokens = [(i, data) for i, data in tokens if data.id < eot]
        pieces = [pw.whisper_token_to_bytes(handle, data.id) for _, data in tokens]
        texts = iter(utf8_texts(pieces))
        segments = []
        for i in range(pw.whisper_full_n_segments(handle)):
            words: list[Word] = []
            logprobs: list[float] = []
            pending: list[tuple[str, float, float, float]] = []
            closing = 1.0  # the last text token's probability
            for (segment, data), piece in zip(tokens, pieces, strict=True):
                if segment != i:
                    continue
                logprobs.append(data.plog)
                if pending and piece[:1] == b" ":
                    words += _word(pending, duration)
                    pending = []
                pending.append((next(texts), data.t0 / 100.0, data.t1 / 100.0, data.p))
                closing = data.p
            if pending:
                words += _word(pending, duration)
            text = "".join(w.word for w in words)
            start = min(pw.whisper_full_get_segment_t0(handle, i) / 100.0, duration)
            end = min(pw.whisper_full_get_segment_t1(handle, i) / 100.0, duration)
            avg = float(np.mean(logprobs)) if logprobs else 0.0
            segments.append(Segment(text, start, max(start, end), tuple(words), avg, closing))
        detected = language or pw.whisper_lang_str(pw.whisper_full_lang_id(handle))
        return Transcription(tuple(segments), detected, duration)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (every call then raises :class:`ClosedError`)."""
        return self._closed

    def close(self) -> None:
        """Free every whisper.cpp context; a decode in flight finishes first. Idempotent.

        Afterwards :meth:`transcribe` raises :class:`ClosedError`, on every thread.
        """
        with self._registry_lock:
            self._closed = True
            contexts, self._contexts = self._contexts, []
        for ctx in contexts:
            with ctx.lock:
                handle, ctx.handle = ctx.handle, None
                _pw().whisper_free(handle)

    def _closed_error(self) -> ClosedError:
        return ClosedError(f"this Engine ({self.model_name}) is closed: create a new one")

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _word(pieces: list[tuple[str, float, float, float]], duration: float) -> list[Word]:
    """The word made of token ``pieces`` (text, start, end, probability), or none when
    its tokens hold no whole character."""
    text = "".join(p[0] for p in pieces)
    if not text.strip():
        return []
    start = min(pieces[0][1], duration)
    end = min(max(pieces[-1][2], start), duration)
    probability = float(np.mean([p[3] for p in pieces]))
    return [Word(text, start, end, probability)]


def utf8_texts(pieces: Sequence[bytes]) -> list[str]:
    r"""The text of each token's bytes, cut only at UTF-8 character boundaries.

    Whisper's tokens are byte sequences, and one character (an accented letter, a CJK
    character, "♪") may be split over two or three tokens. Each returned string holds the
    characters that its token completes: bytes of an unfinished character are carried
    to the next token; bytes that can never form a character (a sequence broken off,
    which Whisper writes on music and noise) are dropped, as is U+FFFD itself. So no
    text ever holds a replacement character. Returns one string per piece.

    Example::

        >>> utf8_texts([b" caf", b"\xc3", b"\xa9", b" \xe2\x99", b"\xaa\xff"])
        [' caf', '', 'é', ' ', '♪']
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
    texts = [decoder.decode(piece) for piece in pieces]
    if texts:
        texts[-1] += decoder.decode(b"", final=True)
    return [t.replace("\ufffd", "") for t in texts]


_logs_quieted = False
_exit_hook_set = False

# Decodes in flight, by their cancel events. whisper.cpp calls back into Python while it
# decodes (abort and log callbacks); a process that exits mid-decode would crash in that
# call, so at exit every decode is cancelled and awaited first.
_active: set[threading.Event] = set()
_active_changed = threading.Condition()
_EXIT_WAIT_SECONDS = 5.0


@contextlib.contextmanager
def _running(cancel: threading.Event) -> Iterator[None]:
    with _active_changed:
        _active.add(cancel)
    try:
        yield
    finally:
        with _active_changed:
            _active.discard(cancel)
            _active_changed.notify_all()


def _cancel_all_and_wait() -> None:
    with _active_changed:
        for event in _active:
            event.set()
        _active_changed.wait_for(lambda: not _active, _EXIT_WAIT_SECONDS)


def _vocabulary_prompt(handle: Any, opts: DecodeOptions) -> str:
    """The vocabulary glossary and ``opts.initial_prompt``, fitted in the model's tokens."""
    pw = _pw()
    # whisper_tokenize given no room returns minus the token count, writing nothing.
    return fit_prompt(
        opts.vocabulary,
        opts.initial_prompt,
        lambda text: abs(pw.whisper_tokenize(handle, text, 0, 0)),
    )


def _quiet_logs(pw: Any) -> None:
    """Keep whisper.cpp's load and timing chatter off the user's terminal."""
    global _logs_quieted, _exit_hook_set
    if not _logs_quieted and not os.environ.get("LIVEWHISPER_DEBUG"):
        pw.whisper_log_set(lambda *args: None)
        # ggml logs during process teardown, after Python is gone: restore the C logger
        # first, or that late call into a dead interpreter crashes the process.
        atexit.register(pw.whisper_log_set, None)
    if not _exit_hook_set:
        _exit_hook_set = True
        atexit.register(_cancel_all_and_wait)  # registered last, so it runs first
        _logs_quieted = True
