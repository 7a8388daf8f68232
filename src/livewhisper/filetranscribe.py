"""Whole-file transcription: audio of any length in, timed segments with words out.

The file is decoded as it is read (:func:`~livewhisper.audio.decode.decode_audio`: any
container and codec FFmpeg reads, so memory stays flat for hours of audio), cut into
utterances at pauses by the same VAD and segmenter that live dictation uses, and the
utterances are packed into windows of up to 28 s
(:func:`~livewhisper.segmenter.pack_utterances`), each decoded with Whisper's full 30 s
encoder context. That keeps every decode within Whisper's window, skips silence (where
Whisper hallucinates) and pays one encoder pass per window rather than per utterance.
Whisper sometimes ends a window's text early (its end-of-text token after a pause), so
the utterances of a window that no kept segment reaches are decoded again on their own
(:func:`unheard_runs`).
Segment and word times are stream times: seconds from the start of the file.

Example::

    from livewhisper import DecodeOptions, Engine
    from livewhisper.filetranscribe import transcribe_file

    with Engine("tiny.en-q8_0") as engine:
        result = transcribe_file("talk.mp3", engine, DecodeOptions(language="en"))
    for segment in result.segments:
        print(f"[{segment.start:6.2f} -> {segment.end:6.2f}] {segment.text.strip()}")
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from livewhisper.audio.decode import (
    SAMPLE_RATE,
    STDIN,
    AudioArray,
    AudioFile,
    as_mono_float32,
    decode_audio,
    display_name,
    probe,
)
from livewhisper.engine import DecodeOptions, SpeechModel
from livewhisper.errors import AudioError
from livewhisper.events import Segment, Transcription
from livewhisper.guards import drop_loops, is_noise, prompt_from_history, tidy
from livewhisper.segmenter import (
    Segmenter,
    SegmenterConfig,
    UtteranceEnded,
    join_utterances,
    pack_utterances,
)
from livewhisper.vad import SpeechDetector, VadConfig

__all__ = ["split_blocks", "split_utterances", "transcribe_file", "unheard_runs"]

_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]"


def split_utterances(
    audio: npt.ArrayLike,
    *,
    vad: VadConfig | None = None,
    segmenter: SegmenterConfig | None = None,
) -> Iterator[UtteranceEnded]:
    """Cut 16 kHz mono audio into utterances at pauses, lazily, in stream order.

    Runs :class:`~livewhisper.vad.SpeechDetector` over every frame and feeds
    :class:`~livewhisper.segmenter.Segmenter`; each :class:`UtteranceEnded` carries its
    audio and its ``start`` time in the input. A last frame shorter than the VAD's is
    dropped (at most 30 ms, never speech worth a word).

    Example::

        for utterance in split_utterances(load_audio("talk.wav")):
            print(f"{utterance.start:.2f}-{utterance.end:.2f} s")
    """
    return split_blocks([as_mono_float32(audio)], vad=vad, segmenter=segmenter)


def split_blocks(
    blocks: Iterable[AudioArray],
    *,
    vad: VadConfig | None = None,
    segmenter: SegmenterConfig | None = None,
) -> Iterator[UtteranceEnded]:
    """:func:`split_utterances` over a stream of 16 kHz mono float32 blocks of any size,
    such as :func:`~livewhisper.audio.decode.decode_audio` yields: only the utterance
    being cut is held, never the whole recording.

    Example::

        for utterance in split_blocks(decode_audio("talk.m4a")):
            print(f"{utterance.start:.2f}-{utterance.end:.2f} s")
    """
    detector = SpeechDetector(vad)
    cutter = Segmenter(segmenter)
    n = detector.frame_samples
    carry = np.zeros(0, dtype=np.float32)
    for block in blocks:
        samples = np.concatenate([carry, block]) if len(carry) else block
        end = len(samples) - len(samples) % n
        for offset in range(0, end, n):
            frame = samples[offset : offset + n]
            for event in cutter.push(frame, detector.is_speech(frame)):
                if isinstance(event, UtteranceEnded):
                    yield event
        carry = samples[end:].copy()
    for event in cutter.flush():
        if isinstance(event, UtteranceEnded):
            yield event


def transcribe_file(
    source: AudioFile | npt.ArrayLike,
    engine: SpeechModel,
    options: DecodeOptions | None = None,
    *,
    sample_rate: float = SAMPLE_RATE,
    vad: VadConfig | None = None,
    segmenter: SegmenterConfig | None = None,
    prompt_history: int = 0,
    sized_context: bool = False,
    progress: bool = False,
    on_segment: Callable[[Segment], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    max_seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> Transcription:
    """Transcribe a whole file (a path, ``"-"`` or an open binary file, decoded as it is
    read) or recording (an array at ``sample_rate``).

    The audio goes through :func:`split_utterances`; each utterance is decoded with
    ``options``. With ``prompt_history`` > 0 (and no ``options.initial_prompt``) each is
    prompted by the text of up to that many previous ones, as in live dictation. The
    default is none: a window already hears up to 28 s of context, and the previous
    text misled it (tiny.en-q8_0 on 19 joined clips: 15.5% WER unprompted against
    18.9% with 3 windows of history, docs/performance.md), and put word times up to
    1.5 s late, into the pause before the next utterance. With
    ``options.language=None`` the language is detected in each utterance, as live
    dictation does, so a file that changes language keeps each part in its own (one
    language for the whole file only when ``options.language`` names it); the result's
    language is the one most of the transcribed speech was in. Decoding loops are cut
    short and phantom phrases heard in noise dropped (:mod:`livewhisper.guards`).

    Utterances are packed into windows of up to 28 s, fewer encoder passes for the same
    words (:func:`~livewhisper.segmenter.pack_utterances`), unless a multilingual model
    detects the language; "utterance" below means such a window. Each is encoded with
    Whisper's full 30 s context unless
    ``options.audio_ctx`` says otherwise: on the 19 clips of tests/data/en, tiny.en-q8_0
    made 14.9% WER with it and 17.4% with the context sized to each piece, for up to twice
    the decode time. ``sized_context=True`` trades that accuracy back for speed (as live
    partials do).

    ``progress`` shows a tqdm bar on stderr, in seconds of audio; ``on_segment`` receives
    each segment as soon as it is decoded (e.g. to stream it to a client), ``on_progress``
    the seconds of audio done after each utterance. Returns every
    segment, with stream times (:meth:`Segment.with_offset`), the language and the
    duration of the audio. Raises :class:`~livewhisper.errors.AudioError` for a missing
    or unreadable file, invalid samples, or audio longer than ``max_seconds``;
    :class:`~livewhisper.errors.DecodeCancelled` once ``cancel`` is set.

    Example::

        result = transcribe_file("interview.flac", engine, DecodeOptions(language="es"))
        print(result.text)
        print(result.words[0])        # Word(word=' Buenos', start=0.42, end=0.7, ...)
    """
    blocks: Iterable[AudioArray]
    if isinstance(source, (str, os.PathLike)):
        stdin = os.fspath(source) == STDIN
        name = "stdin" if stdin else display_name(Path(source).name)
        # The header's length, for the progress bar only: standard input is read once.
        expected = None if stdin else probe(source).duration
        blocks = decode_audio(source, cancel=cancel)
    elif hasattr(source, "read"):  # an open binary file, read from its start
        file: IO[bytes] = source  # type: ignore[assignment]
        name = display_name(file)
        file.seek(0)
        expected = probe(file).duration
        file.seek(0)
        blocks = decode_audio(file, cancel=cancel)
    else:
        name = "audio"
        blocks = [as_mono_float32(source, sample_rate)]
        expected = len(blocks[0]) / SAMPLE_RATE
    counted = [0]

    def count(stream: Iterable[AudioArray]) -> Iterator[AudioArray]:
        for block in stream:
            counted[0] += len(block)
            if max_seconds is not None and counted[0] > (max_seconds + 1) * SAMPLE_RATE:
                raise AudioError(f"the audio is longer than {max_seconds:g} s")
            yield block

    opts = options or DecodeOptions()
    if opts.audio_ctx is None and not sized_context:
        opts = replace(opts, audio_ctx=0)  # 0: the full context
    decoder = _WindowDecoder(engine, opts, prompt_history, cancel)
    segments: list[Segment] = []
    bar = tqdm(
        total=round(expected, 1) if expected else None,
        desc=name,
        unit="s",
        disable=not progress,
        leave=False,
        bar_format=_BAR,
    )
    with bar:
        utterances = split_blocks(count(blocks), vad=vad, segmenter=segmenter)
        # A window holds one language: with the language detected (a multilingual model
        # and none named), each utterance is decoded alone so each keeps its own.
        windows: Iterable[tuple[UtteranceEnded, ...]] = (
            ((u,) for u in utterances)
            if engine.multilingual and opts.language is None
            else pack_utterances(utterances)
        )
        for parts in windows:
            for segment in decoder.decode(parts):
                segments.append(segment)
                if on_segment is not None:
                    on_segment(segment)
            done = min(parts[-1].start + parts[-1].duration, counted[0] / SAMPLE_RATE)
            bar.update(round(done - bar.n, 1))
            if on_progress is not None:
                on_progress(done)
        duration = counted[0] / SAMPLE_RATE
        bar.update(round(duration - bar.n, 1))
    return Transcription(tuple(segments), decoder.language, duration)


class _WindowDecoder:
    """Decodes the windows of one file in order, and remembers what it heard: the
    (language, text) of the last windows (the prompt of the next, with ``prompt_history``
    > 0 and no ``options.initial_prompt``) and the seconds of speech kept per language."""

    def __init__(
        self,
        engine: SpeechModel,
        options: DecodeOptions,
        prompt_history: int,
        cancel: threading.Event | None,
    ) -> None:
        self._engine = engine
        self._options = options
        self._cancel = cancel  # stops a decode in flight, not only the reading
        self._prompted = prompt_history > 0 and not options.initial_prompt
        self._history: collections.deque[tuple[str, str]] = collections.deque(
            maxlen=max(prompt_history, 1)
        )
        self._spoken: dict[str, float] = collections.defaultdict(float)

    @property
    def language(self) -> str:
        """The language named in the options, else the one most kept speech was in."""
        spoken = self._spoken
        return self._options.language or max(spoken, key=spoken.__getitem__, default="")

    def decode(self, parts: Sequence[UtteranceEnded]) -> list[Segment]:
        """The kept segments (stream times, in order) of the window of ``parts``; the
        runs of parts no kept segment reaches are decoded again, on fewer parts."""
        utterance = join_utterances(parts)
        result = self._transcribe(utterance.audio)
        kept = _keep(result, utterance, parts)
        if kept:
            self._spoken[result.language] += sum(s.end - s.start for s in kept)
            self._history.append((result.language, " ".join(s.text.strip() for s in kept)))
        for run in unheard_runs(parts, kept):
            if len(run) < len(parts):  # fewer parts each time: this ends
                kept.extend(self.decode(run))
        return sorted(kept, key=lambda segment: segment.start)

    def _transcribe(self, audio: AudioArray) -> Transcription:
        cancel = self._cancel
        if not self._prompted:
            return self._engine.transcribe(audio, self._options, cancel=cancel)
        before = self._history[-1][0] if self._history else None
        result = self._engine.transcribe(
            audio, replace(self._options, initial_prompt=self._prompt(before)), cancel=cancel
        )
        if self._history and result.language != before:
            # Whisper writes in the language of its prompt: a prompt in the language
            # before a switch would translate this utterance. Decode it again,
            # prompted in the language it was heard in.
            call = replace(
                self._options,
                language=result.language,
                initial_prompt=self._prompt(result.language),
            )
            result = self._engine.transcribe(audio, call, cancel=cancel)
        return result

    def _prompt(self, language: str | None) -> str:
        """The prompt made of the remembered texts that are in ``language``."""
        return prompt_from_history([text for spoken, text in self._history if spoken == language])


def unheard_runs(
    parts: Sequence[UtteranceEnded], segments: Sequence[Segment]
) -> list[tuple[UtteranceEnded, ...]]:
    """The runs of consecutive ``parts`` (utterances decoded as one window) whose speech,
    from ``speech_start`` to ``end``, no segment overlaps (all in stream seconds): what
    the decode did not hear. Whisper ends a window's text early now and then, after a
    pause, and the speech after it would be lost.

    Example::

        >>> import numpy as np
        >>> silent = np.zeros(0, np.float32)
        >>> parts = [UtteranceEnded(silent, t, t + 4, False, t + 0.3) for t in (0, 5, 10)]
        >>> [[p.start for p in run] for run in unheard_runs(parts, [Segment(" Hi.", 0.2, 4.1)])]
        [[5, 10]]
    """
    runs: list[tuple[UtteranceEnded, ...]] = []
    run: list[UtteranceEnded] = []
    for part in parts:
        heard = any(s.start < part.end and s.end > part.speech_start for s in segments)
        if heard and run:
            runs.append(tuple(run))
            run = []
        elif not heard:
            run.append(part)
    if run:
        runs.append(tuple(run))
    return runs


def _keep(
    result: Transcription, utterance: UtteranceEnded, parts: Sequence[UtteranceEnded]
) -> list[Segment]:
    """The segments worth keeping, cleaned, in stream time. The guards weigh each segment
    against the speech of the parts it overlaps (all parts if its times overlap none),
    not of the whole window."""
    kept = []
    for decoded in result.segments:
        segment = decoded.with_offset(utterance.start)
        near = [p for p in parts if p.speech_start < segment.end and p.end > segment.start]
        speech = sum(p.end - p.speech_start for p in near or parts)
        words = drop_loops(segment.words, speech)
        said = segment.text if len(words) == len(segment.words) else "".join(w.word for w in words)
        text = tidy(said)
        if not text or is_noise(text, speech, [w.probability for w in words]):
            continue
        kept.append(replace(segment, text=" " + text, words=tuple(words)))
    return kept
