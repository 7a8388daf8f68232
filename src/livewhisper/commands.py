"""Spoken commands: the final texts of a dictation turned into edits of a document.

Pure logic, no keyboard and no clock (the typing itself is :mod:`livewhisper.keyboard`).
:class:`SpokenCommands` takes each final's text and returns the edits to make where the
cursor is: :class:`TypeText`, :class:`Backspace`, :class:`Pause`, :class:`Resume`. It keeps
what it has typed, final by final, so "scratch that" knows exactly how many characters
to delete, and a comma joins the word before it even when the word came in an earlier
final.

Commands (English; Spanish when the language is ``es``):

==============================  ===============================================
"period", "full stop"           ``.``  (also "punto", "punto y seguido")
"comma"                         ``,``  ("coma")
"question mark"                 ``?``  ("signo de interrogación", "cierra
                                       interrogación"; "abre interrogación": ``¿``)
"exclamation mark"/"point"      ``!``  ("signo de exclamación"; "abre exclamación": ``¡``)
"colon", "semicolon"            ``:`` ``;``  ("dos puntos", "punto y coma")
"open quote", "close quote"     ``"``  ("abre comillas", "cierra comillas")
"new line", "new paragraph"     a line break, a blank line ("nueva línea",
                                "nuevo párrafo", "punto y aparte": ``.`` + line)
"scratch that"                  deletes the last final typed ("borra eso")
"stop listening"                types nothing until "start listening" ("deja de
                                escuchar", "empieza a escuchar")
==============================  ===============================================

Command words are matched whatever their case, accents or the punctuation Whisper put
around them; they are removed from the text, and the comma Whisper wrote before a spoken
"comma" does not double it. Other languages get the English commands.

Example:

    >>> editor = SpokenCommands(language="en")
    >>> editor.apply("Dear Anna, comma, new line")
    [TypeText(text='Dear Anna,\\n')]
    >>> editor.apply("Thanks for the notes period.")
    [TypeText(text='Thanks for the notes.')]
    >>> editor.apply("Scratch that.")
    [Backspace(count=21)]
    >>> editor.text
    'Dear Anna,\\n'
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from livewhisper.errors import ConfigError

__all__ = [
    "Backspace",
    "EditAction",
    "Pause",
    "Resume",
    "SpokenCommands",
    "TypeText",
    "command_phrases",
    "load_replacements",
]


@dataclass(frozen=True)
class TypeText:
    """Type ``text`` where the cursor is (it may hold line breaks)."""

    text: str


@dataclass(frozen=True)
class Backspace:
    """Delete the ``count`` characters before the cursor."""

    count: int


@dataclass(frozen=True)
class Pause:
    """The user said "stop listening": nothing is typed until :class:`Resume`."""


@dataclass(frozen=True)
class Resume:
    """The user said "start listening": typing goes on."""


EditAction = TypeText | Backspace | Pause | Resume
"""One edit :meth:`SpokenCommands.apply` asks for."""


class _Op(enum.Enum):
    MARK = "mark"  # punctuation joined to the word before it
    OPEN = "open"  # punctuation joined to the word after it (¿, ¡, an opening quote)
    CLOSE_QUOTE = "close quote"
    BREAK = "break"  # a line break or a blank line
    SCRATCH = "scratch"
    PAUSE = "pause"
    RESUME = "resume"
    WORDS = "words"  # not a command: words that contain one ("en punto"), typed as said


_Command = tuple[tuple[_Op, str], ...]

_PERIOD: _Command = ((_Op.MARK, "."),)
_QUESTION: _Command = ((_Op.MARK, "?"),)
_EXCLAMATION: _Command = ((_Op.MARK, "!"),)
_LINE: _Command = ((_Op.BREAK, "\n"),)
_PARAGRAPH: _Command = ((_Op.BREAK, "\n\n"),)
_OPEN_QUOTE: _Command = ((_Op.OPEN, '"'),)
_CLOSE_QUOTE: _Command = ((_Op.CLOSE_QUOTE, '"'),)
_SCRATCH: _Command = ((_Op.SCRATCH, ""),)
_PAUSE: _Command = ((_Op.PAUSE, ""),)
_RESUME: _Command = ((_Op.RESUME, ""),)
_WORDS: _Command = ((_Op.WORDS, ""),)

# Phrases are written as said; they are matched after _key() (no case, accents, punctuation).
_ENGLISH: dict[str, _Command] = {
    "period": _PERIOD,
    "full stop": _PERIOD,
    "comma": ((_Op.MARK, ","),),
    "question mark": _QUESTION,
    "exclamation mark": _EXCLAMATION,
    "exclamation point": _EXCLAMATION,
    "colon": ((_Op.MARK, ":"),),
    "semicolon": ((_Op.MARK, ";"),),
    "new line": _LINE,
    "newline": _LINE,
    "next line": _LINE,
    "new paragraph": _PARAGRAPH,
    "next paragraph": _PARAGRAPH,
    "open quote": _OPEN_QUOTE,
    "open quotes": _OPEN_QUOTE,
    "begin quote": _OPEN_QUOTE,
    "close quote": _CLOSE_QUOTE,
    "close quotes": _CLOSE_QUOTE,
    "end quote": _CLOSE_QUOTE,
    "unquote": _CLOSE_QUOTE,
    "scratch that": _SCRATCH,
    "delete that": _SCRATCH,
    "stop listening": _PAUSE,
    "start listening": _RESUME,
    "period of": _WORDS,  # "a period of time"
}

_SPANISH: dict[str, _Command] = {
    "punto": _PERIOD,
    "punto y seguido": _PERIOD,
    "punto y aparte": (*_PERIOD, *_LINE),
    "punto y coma": ((_Op.MARK, ";"),),
    "coma": ((_Op.MARK, ","),),
    "dos puntos": ((_Op.MARK, ":"),),
    "signo de interrogación": _QUESTION,
    "cierra interrogación": _QUESTION,
    "cerrar interrogación": _QUESTION,
    "abre interrogación": ((_Op.OPEN, "¿"),),
    "abrir interrogación": ((_Op.OPEN, "¿"),),
    "signo de exclamación": _EXCLAMATION,
    "cierra exclamación": _EXCLAMATION,
    "cerrar exclamación": _EXCLAMATION,
    "abre exclamación": ((_Op.OPEN, "¡"),),
    "abrir exclamación": ((_Op.OPEN, "¡"),),
    "nueva línea": _LINE,
    "salto de línea": _LINE,
    "nuevo párrafo": _PARAGRAPH,
    "abre comillas": _OPEN_QUOTE,
    "abrir comillas": _OPEN_QUOTE,
    "cierra comillas": _CLOSE_QUOTE,
    "cerrar comillas": _CLOSE_QUOTE,
    "borra eso": _SCRATCH,
    "borrar eso": _SCRATCH,
    "deja de escuchar": _PAUSE,
    "para de escuchar": _PAUSE,
    "empieza a escuchar": _RESUME,
    "vuelve a escuchar": _RESUME,
    "punto final": _PERIOD,
    "en punto": _WORDS,  # "a las tres en punto"
    "punto de vista": _WORDS,
}

_TABLES = {"en": _ENGLISH, "es": _SPANISH}
_LONGEST = max(len(phrase.split()) for table in _TABLES.values() for phrase in table)

# What Whisper puts after a word; stripped before a spoken mark so it does not double.
_TRAILING_MARKS = ".,;:!?…"
_SENTENCE_END = ".?!"
# Capital after a spoken comma for their own sake, not for Whisper's full stop.
_ALWAYS_CAPITAL = {"i", "im", "ill", "ive", "id"}


def command_phrases(language: str = "en") -> list[str]:
    """The phrases that are commands in ``language`` (English for a language without its
    own table), as they are said.

    Example:

        >>> command_phrases("es")[:3]
        ['punto', 'punto y seguido', 'punto y aparte']
    """
    table = _TABLES.get(language, _ENGLISH)
    return [phrase for phrase, ops in table.items() if ops != _WORDS]


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _key(word: str) -> str:
    """A word as a command is matched: no case, no accents, no punctuation at its ends."""
    folded = _fold(word)
    start, end = 0, len(folded)
    while start < end and not folded[start].isalnum():
        start += 1
    while end > start and not folded[end - 1].isalnum():
        end -= 1
    return folded[start:end]


def _compile(table: dict[str, _Command]) -> dict[tuple[str, ...], _Command]:
    return {tuple(_key(word) for word in phrase.split()): ops for phrase, ops in table.items()}


_COMPILED = {language: _compile(table) for language, table in _TABLES.items()}


def load_replacements(path: Path | str) -> list[tuple[str, str]]:
    """Read a file of replacements: one ``spoken<TAB>written`` pair a line.

    Blank lines and lines starting with ``#`` are skipped. Raises
    :class:`~livewhisper.errors.ConfigError` naming the line of a malformed pair, and
    :class:`OSError` for a file that cannot be read.

    Example::

        # names.tsv:  "live whisper<TAB>livewhisper", "jay son<TAB>JSON"
        SpokenCommands(replacements=load_replacements("names.tsv"))
    """
    pairs: list[tuple[str, str]] = []
    text = Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spoken, tab, written = line.partition("\t")
        if not tab or not spoken.strip() or "\t" in written:
            raise ConfigError(f"{path}, line {number}: expected 'spoken<TAB>written', got {line!r}")
        pairs.append((spoken.strip(), written.strip()))
    return pairs


@dataclass
class _Chunk:
    """What one final typed, and the joining state from before it (restored on delete)."""

    text: str
    glued: bool
    capitalize: bool


class _Builder:
    """The text one final types, piece by piece, with the spacing rules."""

    def __init__(self, glued: bool, capitalize: bool) -> None:
        self.text = ""
        self.glued = glued  # no space before the next word
        self.capitalize = capitalize  # the next word starts a sentence
        self.lower_next = False  # Whisper capitalised a word after a spoken comma

    def word(self, word: str, separator: str) -> None:
        if self.capitalize and word[:1].islower():
            word = word[0].upper() + word[1:]
        elif self.lower_next and word[:1].isupper() and _key(word) not in _ALWAYS_CAPITAL:
            word = word[0].lower() + word[1:]
        self.text += word if self.glued else separator + word
        self.glued = self.capitalize = self.lower_next = False


class SpokenCommands:
    """Turns final texts into edits, applying spoken commands and replacements.

    ``language`` picks the command table (``"es"`` Spanish, others English); a language
    given to :meth:`apply` wins (a multilingual model detects it per final; give
    ``language=None`` to say so).
    ``commands=False`` types every word as said. ``replacements`` are ``(spoken,
    written)`` pairs applied first, whole words, any case (see
    :func:`load_replacements`). ``join`` goes between two finals: ``" "`` or ``"\\n"``.

    The instance keeps the text it has typed (:attr:`text`), assuming nobody else edits
    the document meanwhile; one instance per document, used from one thread.

    Example:

        >>> editor = SpokenCommands(language="es", replacements=[("live whisper", "livewhisper")])
        >>> editor.apply("Abre interrogación, qué tal live whisper, signo de interrogación.")
        [TypeText(text='¿Qué tal livewhisper?')]
        >>> editor.apply("Deja de escuchar. Esto no se escribe.")
        [Pause()]
        >>> editor.apply("Empieza a escuchar. Nueva línea. Adiós.")
        [Resume(), TypeText(text='\\nAdiós.')]
    """

    def __init__(
        self,
        language: str | None = "en",
        *,
        commands: bool = True,
        replacements: Iterable[tuple[str, str]] = (),
        join: str = " ",
    ) -> None:
        if join not in (" ", "\n"):
            raise ConfigError(f"join must be ' ' or '\\n', not {join!r}")
        self.language = language
        self.commands = commands
        self.join = join
        self._replacements = [
            (re.compile(_phrase_pattern(spoken), re.IGNORECASE), written)
            for spoken, written in replacements
        ]
        self._chunks: list[_Chunk] = []
        self._glued = True  # at the start of the document: no space first
        self._capitalize = True  # a sentence starts the document
        self._paused = False

    @property
    def text(self) -> str:
        """What this instance has typed and not deleted, in order."""
        return "".join(chunk.text for chunk in self._chunks)

    @property
    def paused(self) -> bool:
        """True after "stop listening", until "start listening"."""
        return self._paused

    def apply(self, text: str, language: str | None = None) -> list[EditAction]:
        """The edits one final's ``text`` asks for, in order; ``[]`` for nothing."""
        for pattern, written in self._replacements:
            text = pattern.sub(written.replace("\\", "\\\\"), text)
        words = text.split()
        table = _COMPILED.get(language or self.language or "en", _COMPILED["en"])
        actions: list[EditAction] = []
        build = self._builder()
        i = 0
        while i < len(words):
            ops, size = self._match(words, i, table) if self.commands else ((), 0)
            if not size:
                if not self._paused:
                    build.word(words[i], self.join if not build.text else " ")
                i += 1
                continue
            said = words[i + size - 1]
            if ops == _WORDS:
                # Words with a command inside, when said in one breath: Whisper puts no
                # punctuation inside them ("en punto", but "punto. De...").
                if any(_key(w) != _fold(w) for w in words[i : i + size - 1]):
                    ops, size = self._match(words, i, table, commands_only=True)
                    said = words[i + size - 1] if size else said
                if not size or ops == _WORDS:
                    for word in words[i : i + max(size, 1)]:
                        if not self._paused:
                            build.word(word, self.join if not build.text else " ")
                    i += max(size, 1)
                    continue
            i += size
            for op, mark in ops:
                if self._paused and op is not _Op.RESUME:
                    continue
                if op in (_Op.PAUSE, _Op.RESUME):
                    self._flush(build, actions)
                    self._paused = op is _Op.PAUSE
                    actions.append(Pause() if self._paused else Resume())
                    build = self._builder()
                elif op is _Op.SCRATCH:
                    if build.text:
                        build = _Builder(self._glued, self._capitalize)
                    elif self._chunks:
                        chunk = self._chunks.pop()
                        self._glued, self._capitalize = chunk.glued, chunk.capitalize
                        actions.append(Backspace(len(chunk.text)))
                        build = self._builder()
                else:
                    self._punctuate(build, op, mark, actions)
                    # "Hello, comma. How are you": Whisper's full stop made "How"
                    # capital; after a spoken comma it is lower case again.
                    build.lower_next = op is _Op.MARK and mark not in _SENTENCE_END
                    build.lower_next &= said[-1:] in _SENTENCE_END
        self._flush(build, actions)
        return actions

    def _builder(self) -> _Builder:
        return _Builder(self._glued, self._capitalize)

    def _match(
        self,
        words: Sequence[str],
        i: int,
        table: dict[tuple[str, ...], _Command],
        commands_only: bool = False,
    ) -> tuple[_Command, int]:
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            ops = table.get(tuple(_key(word) for word in words[i : i + size]))
            if ops is not None and not (commands_only and ops == _WORDS):
                return ops, size
        return (), 0

    def _punctuate(self, build: _Builder, op: _Op, mark: str, actions: list[EditAction]) -> None:
        if op is _Op.MARK:
            self._strip_trailing(build, _TRAILING_MARKS, actions)
            build.text += mark
            build.glued = False
            build.capitalize = mark in _SENTENCE_END
        elif op is _Op.CLOSE_QUOTE:
            self._strip_trailing(build, ",", actions)
            build.text += mark
            build.glued = False
        elif op is _Op.OPEN:
            build.text += mark if build.glued else (self.join if not build.text else " ") + mark
            build.glued = True
        else:  # a line break: no space on either side of it
            build.text = build.text.rstrip(" ") + mark
            build.glued = build.capitalize = True

    def _strip_trailing(self, build: _Builder, marks: str, actions: list[EditAction]) -> None:
        """Drop the punctuation Whisper wrote where a spoken mark goes, typed or not yet."""
        if build.text:
            build.text = build.text.rstrip(marks)
            return
        if self._chunks and not self._glued:
            last = self._chunks[-1]
            kept = last.text.rstrip(marks)
            if len(kept) < len(last.text):
                actions.append(Backspace(len(last.text) - len(kept)))
                last.text = kept
        build.glued = True  # a mark that starts a final joins the last word typed

    def _flush(self, build: _Builder, actions: list[EditAction]) -> None:
        if not build.text:
            return
        self._chunks.append(_Chunk(build.text, self._glued, self._capitalize))
        del self._chunks[:-1000]  # "scratch that" reaches a long way back, not forever
        self._glued, self._capitalize = build.glued, build.capitalize
        actions.append(TypeText(build.text))


def _phrase_pattern(spoken: str) -> str:
    words = [re.escape(word) for word in spoken.split()]
    return r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)"
