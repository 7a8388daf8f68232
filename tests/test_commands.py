"""Spoken commands: final texts in, edits out (pure, no keyboard)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livewhisper.commands import (
    Backspace,
    EditAction,
    Pause,
    Resume,
    SpokenCommands,
    TypeText,
    command_phrases,
    load_replacements,
)
from livewhisper.errors import ConfigError


def play(actions: list[EditAction], document: str = "") -> str:
    """What a text box holds after the edits (the test's own model of a keyboard)."""
    for action in actions:
        if isinstance(action, TypeText):
            document += action.text
        elif isinstance(action, Backspace):
            assert action.count <= len(document)
            document = document[: len(document) - action.count]
    return document


def typed(finals: list[str], **options: object) -> str:
    editor = SpokenCommands(**options)  # type: ignore[arg-type]
    document = ""
    for final in finals:
        document = play(editor.apply(final), document)
    assert document == editor.text
    return document


def test_plain_finals_are_joined_by_a_space() -> None:
    assert typed(["Hello there.", "How are you?"]) == "Hello there. How are you?"
    assert typed(["Hello there.", "How are you?"], join="\n") == "Hello there.\nHow are you?"


@pytest.mark.parametrize(
    ("said", "written"),
    [
        ("I agree comma but not today period", "I agree, but not today."),
        ("I agree, comma, but not today. Period.", "I agree, but not today."),
        ("Is it done question mark", "Is it done?"),
        ("Wow exclamation mark", "Wow!"),
        ("Wow, exclamation point.", "Wow!"),
        ("Note colon buy milk semicolon eggs full stop", "Note: buy milk; eggs."),
        ("He said open quote hello close quote", 'He said "hello"'),
        ("He said, open quote, hello, close quote.", 'He said, "hello"'),
    ],
)
def test_punctuation_joins_the_word_before_it(said: str, written: str) -> None:
    assert typed([said]) == written


def test_a_full_stop_whisper_put_before_a_spoken_comma_does_not_capitalise() -> None:
    assert typed(["Yes, comma. And then"]) == "Yes, and then"
    assert typed(["Yes, comma. I think so"]) == "Yes, I think so"
    assert typed(["first period then"]) == "First. Then"


def test_line_breaks_have_no_space_around_them() -> None:
    assert typed(["Dear Anna, new line. thanks"]) == "Dear Anna,\nThanks"
    assert typed(["Dear Anna,", "New line.", "Thanks."]) == "Dear Anna,\nThanks."
    assert typed(["One.", "New paragraph.", "Two."]) == "One.\n\nTwo."
    assert typed(["One. Newline. Two."]) == "One.\nTwo."


def test_a_spoken_mark_in_a_new_final_joins_the_last_word_typed() -> None:
    editor = SpokenCommands()
    assert editor.apply("Hello world.") == [TypeText("Hello world.")]
    # Whisper's full stop goes; the comma takes its place.
    assert editor.apply("Comma.") == [Backspace(1), TypeText(",")]
    assert editor.apply("how are you") == [TypeText(" how are you")]
    assert editor.text == "Hello world, how are you"


def test_command_words_match_whatever_case_accents_and_punctuation() -> None:
    assert typed(["NEW LINE!"]) == "\n"
    assert typed(["Hola, nueva linea. Adiós"], language="es") == "Hola,\nAdiós"
    assert typed(["¡Nueva Línea!"], language="es") == "\n"


def test_scratch_that_deletes_exactly_the_last_final() -> None:
    editor = SpokenCommands()
    document = play(editor.apply("First sentence."))
    document = play(editor.apply("Second one, new line"), document)
    actions = editor.apply("Scratch that.")
    assert actions == [Backspace(len(" Second one,\n"))]
    document = play(actions, document)
    assert document == "First sentence."
    document = play(editor.apply("scratch that"), document)
    assert document == "" == editor.text
    assert editor.apply("scratch that") == []  # nothing left to delete
    # The document starts afresh: no space before the next word.
    assert play(editor.apply("again"), document) == "Again"


def test_scratch_that_inside_a_final_drops_what_came_before_it() -> None:
    assert typed(["Keep this.", "Not this. Scratch that. But this."]) == "Keep this. But this."


def test_stop_and_start_listening() -> None:
    editor = SpokenCommands()
    assert editor.apply("Typed. Stop listening. Not typed") == [TypeText("Typed."), Pause()]
    assert editor.paused
    assert editor.apply("Not typed either, new line, scratch that") == []
    assert editor.apply("Start listening. Typed again") == [Resume(), TypeText(" Typed again")]
    assert not editor.paused and editor.text == "Typed. Typed again"


def test_spanish_commands_and_inverted_marks() -> None:
    said = [
        "Abre interrogación qué tal signo de interrogación",
        "Abre exclamación genial cierra exclamación",
        "Uno coma dos punto y coma tres dos puntos cuatro punto y aparte cinco punto",
        "Borra eso",
    ]
    assert typed(said[:3], language="es") == "¿Qué tal? ¡Genial! Uno, dos; tres: cuatro.\nCinco."
    assert typed(said, language="es") == "¿Qué tal? ¡Genial!"
    # English words are no command in Spanish, and the other way round.
    assert typed(["Uno period dos"], language="es") == "Uno period dos"
    assert typed(["one punto two"]) == "one punto two".capitalize()


def test_words_that_hold_a_command_are_typed_when_said_together() -> None:
    said = ["Llego a las tres en punto", "Desde mi punto de vista, punto"]
    assert typed(said, language="es") == "Llego a las tres en punto Desde mi punto de vista."
    assert typed(["Llego en. Punto. De vista"], language="es") == "Llego en. De vista"
    assert typed(["A period of time comma then"]) == "A period of time, then"
    assert typed(["The end period. Of course"]) == "The end. Of course"
    assert "en punto" not in command_phrases("es")


def test_language_per_final_wins() -> None:
    editor = SpokenCommands(language="en")
    assert play(editor.apply("Hola coma amigo", language="es")) == "Hola, amigo"


def test_no_commands_types_every_word() -> None:
    assert typed(["Hello comma new line scratch that"], commands=False) == (
        "Hello comma new line scratch that"
    )


def test_replacements_whole_words_any_case(tmp_path: Path) -> None:
    file = tmp_path / "names.tsv"
    file.write_text(
        "# names\n\nlive whisper\tlivewhisper\njay son\tJSON\nc\\d\tC\\D\n", encoding="utf-8"
    )
    pairs = load_replacements(file)
    assert pairs == [("live whisper", "livewhisper"), ("jay son", "JSON"), ("c\\d", "C\\D")]
    said = "So Live Whisper writes Jay son, comma, not jay sonic; c\\d"
    assert typed([said], replacements=pairs) == "So livewhisper writes JSON, not jay sonic; C\\D"
    # Replacements apply with --no-commands too.
    assert typed(["jay son comma"], replacements=pairs, commands=False) == "JSON comma"


def test_malformed_replacements_name_the_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.tsv"
    file.write_text("ok\tfine\nno tab here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.tsv, line 2: expected 'spoken<TAB>written'"):
        load_replacements(file)


def test_empty_finals_type_nothing() -> None:
    editor = SpokenCommands()
    assert editor.apply("") == [] and editor.apply("   ") == []
    assert editor.text == ""


def test_bad_join_is_refused() -> None:
    with pytest.raises(ConfigError, match="join"):
        SpokenCommands(join="\t")


def test_phrases_are_listed_per_language() -> None:
    assert "scratch that" in command_phrases("en")
    assert "borra eso" in command_phrases("es")
    assert command_phrases("de") == command_phrases("en")
