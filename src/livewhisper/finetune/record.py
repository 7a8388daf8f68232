"""Record a fine-tuning data set: one prompt at a time, cut by the streaming core's VAD.

:func:`capture_utterance` listens to an audio source until the VAD and segmenter (the
same ones live dictation uses) hear one utterance end at a pause, and returns it with
the silence around it trimmed. :class:`Recorder` walks through a list of prompts,
saving ``NNNN.wav`` + ``NNNN.txt`` and the manifest after each take; prompts already
recorded are skipped, so a session can stop and resume at any time. It talks to the
person through two callables, so the command line and the tests drive it alike.

Nothing here needs PyTorch.

Example::

    recorder = Recorder(Path("my-voice"), read_prompts(Path("sentences.txt")),
                        source=Microphone, ask=input, say=print)
    summary = recorder.run()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile

from livewhisper.audio.decode import SAMPLE_RATE, AudioArray
from livewhisper.audio.sources import AudioSource
from livewhisper.errors import DatasetError
from livewhisper.finetune.data import Example, save_example, write_manifest
from livewhisper.finetune.ordinary import ORDINARY_SHARE, with_ordinary
from livewhisper.segmenter import Segmenter, SegmenterConfig, UtteranceEnded, UtteranceStarted
from livewhisper.vad import SpeechDetector, VadConfig

__all__ = [
    "PROMPTS",
    "RecordSummary",
    "Recorder",
    "capture_utterance",
    "keep_prompts",
    "read_prompts",
]

PROMPTS = "prompts.txt"
"""The copy of the prompts kept in the data set directory, so that a session can resume."""

RECORDING_SEGMENTER = SegmenterConfig(pause=1.2, pre_roll=0.25, tail=0.25)
"""A little more patience than dictation: reading a sentence aloud has pauses within it."""

_READ_TIMEOUT = 0.1


def read_prompts(path: Path) -> list[str]:
    """Sentences to record, one a line; blank lines and lines starting with ``#`` are skipped.

    Example::

        read_prompts(Path("sentences.txt"))   # ['Siobhan met Zbigniew at noon.', ...]
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the prompts file {path}: {exc}") from exc
    prompts = [_words(line) for line in lines]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        raise DatasetError(f"the prompts file {path} holds no sentence (one per line)")
    return prompts


def capture_utterance(
    source: AudioSource,
    *,
    vad: VadConfig | None = None,
    segmenter: SegmenterConfig = RECORDING_SEGMENTER,
    max_seconds: float = 25.0,
    wait_seconds: float = 10.0,
) -> AudioArray | None:
    """Read ``source`` (already open) until one utterance ends; its audio, silence trimmed.

    Returns None if no speech started within ``wait_seconds`` of stream time. Speech still
    going after ``max_seconds`` is cut there; so is speech open when the source ends.

    Example::

        with Microphone() as mic:
            audio = capture_utterance(mic)     # returns at the first pause after speech
    """
    detector = SpeechDetector(vad)
    cutter = Segmenter(segmenter)
    frame = detector.frame_samples
    pending = np.zeros(0, dtype=np.float32)
    heard = False
    limit = min(max_seconds, segmenter.max_utterance)
    while True:
        block = source.read(_READ_TIMEOUT)
        if block is None:
            break
        pending = np.concatenate((pending, block)) if pending.size else block
        n = len(pending) // frame
        for i in range(n):
            chunk = pending[i * frame : (i + 1) * frame]
            for event in cutter.push(chunk, detector.is_speech(chunk)):
                if isinstance(event, UtteranceStarted):
                    heard = True
                elif isinstance(event, UtteranceEnded):
                    return event.audio
        pending = pending[n * frame :].copy()
        start = cutter.current_start
        if not heard and cutter.time >= wait_seconds:
            return None
        if start is not None and cutter.time - start >= limit:
            break
    for event in cutter.flush():
        if isinstance(event, UtteranceEnded):
            return event.audio
    return None


@dataclass(frozen=True)
class RecordSummary:
    """The state of a data set after a recording session."""

    recorded: int
    skipped: int
    total: int
    seconds: float
    finished: bool


class Recorder:
    """Guide a person through ``prompts``, recording each into ``directory``.

    * ``source``: makes a fresh, unopened audio source per take (e.g. ``Microphone``).
    * ``ask(question) -> answer``: reads a line from the person (``input``).
    * ``say(text)``: shows a line (``print``).

    Each prompt gets the name ``NNNN`` of its position (from 1), or the next number free
    when a take of another text holds that name (the prompts changed since it was made).
    A prompt counts as recorded when a take on disk holds its text, wherever it stands.
    For every prompt without a recording: Enter records; ``s`` skips; ``q`` stops. After a
    take, Enter keeps it, ``r`` records again, ``s`` skips, ``q`` stops without keeping it.

    Example::

        Recorder(Path("my-voice"), prompts, source=Microphone, ask=input, say=print).run()
    """

    def __init__(
        self,
        directory: Path,
        prompts: Sequence[str],
        *,
        source: Callable[[], AudioSource],
        ask: Callable[[str], str],
        say: Callable[[str], None],
        max_seconds: float = 25.0,
    ) -> None:
        if not prompts:
            raise DatasetError("there is no prompt to record")
        self.directory = directory
        self.prompts = list(prompts)
        self.source = source
        self.ask = ask
        self.say = say
        self.max_seconds = max_seconds

    @staticmethod
    def name(index: int) -> str:
        """The file name (without extension) of prompt ``index`` (0-based): ``0001``..."""
        return f"{index + 1:04d}"

    def _existing(self) -> dict[str, Example]:
        """The takes on disk: each readable NAME.wav with its NAME.txt (the manifest is
        rebuilt from them, so deleting a pair is how to record a sentence again)."""
        found = {}
        for wav in sorted(self.directory.glob("*.wav")):
            txt = wav.with_suffix(".txt")
            try:
                info = soundfile.info(str(wav))
                text = txt.read_text(encoding="utf-8").strip()
            except (OSError, RuntimeError, UnicodeDecodeError, soundfile.SoundFileError):
                continue  # recorded again, and overwritten, in this session
            found[wav.stem] = Example(wav.stem, text, wav, info.frames / info.samplerate)
        return found

    def _take(self) -> AudioArray | None:
        with self.source() as source:
            return capture_utterance(source, max_seconds=self.max_seconds)

    def run(self) -> RecordSummary:
        """Record every prompt not yet recorded; the manifest is rewritten after each."""
        self.directory.mkdir(parents=True, exist_ok=True)
        examples = self._existing()
        recorded = {_words(e.text) for e in examples.values()}
        todo = [i for i, text in enumerate(self.prompts) if _words(text) not in recorded]
        if len(todo) < len(self.prompts):
            self.say(f"{len(self.prompts) - len(todo)} of {len(self.prompts)} already recorded")
        skipped = 0
        finished = True
        for index in todo:
            text = self.prompts[index]
            self.say(f"\n[{index + 1}/{len(self.prompts)}] {text}")
            answer = self.ask("Enter: record, s: skip, q: quit > ").strip().lower()
            if answer == "q":
                finished = False
                break
            if answer == "s":
                skipped += 1
                continue
            kept = self._record_one(self._free_name(index, examples), text)
            if kept == "quit":
                finished = False
                break
            if kept == "skip":
                skipped += 1
                continue
            examples[kept.id] = kept
            write_manifest(self.directory, sorted(examples.values(), key=lambda e: e.id))
        seconds = sum(e.seconds or 0.0 for e in examples.values())
        return RecordSummary(len(examples), skipped, len(self.prompts), seconds, finished)

    def _free_name(self, index: int, examples: dict[str, Example]) -> str:
        """Prompt ``index``'s own name, or past every prompt and take if a take has it."""
        name = self.name(index)
        if name not in examples:
            return name
        numbers = [int(n) for n in examples if n.isdigit()]
        return self.name(max([len(self.prompts), *numbers]))

    def _record_one(self, name: str, text: str) -> Example | Literal["skip", "quit"]:
        """Record ``text`` as take ``name`` until kept (the example), skipped or quit."""
        while True:
            self.say("recording: read the sentence; it stops at the pause after you finish")
            audio = self._take()
            if audio is None:
                self.say("no speech heard (is the microphone on?)")
                answer = self.ask("Enter: try again, s: skip, q: quit > ").strip().lower()
            else:
                self.say(f"got {audio.size / SAMPLE_RATE:.1f} s")
                answer = self.ask("Enter: keep, r: record again, s: skip, q: quit > ")
                answer = answer.strip().lower()
                if answer == "":
                    example = save_example(self.directory, name, audio, text)
                    self.say(f"saved {example.id}.wav")
                    return example
            if answer == "q":
                return "quit"
            if answer == "s":
                return "skip"


def keep_prompts(
    directory: Path, prompts_file: Path | None, ordinary_share: float = ORDINARY_SHARE
) -> list[str]:
    """The prompts of a session: those of ``prompts_file`` with ordinary sentences spread
    among them (``ordinary_share`` of the whole: see :mod:`livewhisper.finetune.ordinary`),
    written to the data set's ``prompts.txt``; else that file as a previous session left
    it. Naming the data set's own ``prompts.txt`` reads it as it is. The same file and
    share always give the same list, so a session can be resumed either way.

    Example::

        keep_prompts(Path("my-voice"), Path("sentences.txt"))
    """
    kept = directory / PROMPTS
    if prompts_file is not None and not _same_file(prompts_file, kept):
        prompts = with_ordinary(read_prompts(prompts_file), ordinary_share)
        directory.mkdir(parents=True, exist_ok=True)
        kept.write_text("".join(f"{p}\n" for p in prompts), encoding="utf-8")
        return prompts
    if kept.is_file():
        return read_prompts(kept)
    raise DatasetError(
        f"no prompts: pass --prompts FILE (one sentence per line, with the names and terms "
        f"you use) the first time; it is kept in {kept} for later sessions"
    )


def _words(text: str) -> str:
    """``text`` with its whitespace runs made single spaces, as prompts are compared."""
    return " ".join(text.split())


def _same_file(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and a.samefile(b)
