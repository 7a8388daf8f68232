"""Vocabulary biasing: the terms, the prompt they make, and where they enter (CLI, server,
Python API); the key-term error rate; a real decode of a names sentence.

The measured gain on 30 sentences is ``python -m benchmarks vocabulary``.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import deadline
from starlette.datastructures import FormData, UploadFile

from livewhisper.cli.common import decode_options, server_settings
from livewhisper.cli.main import build_parser
from livewhisper.engine import DecodeOptions
from livewhisper.errors import ConfigError, DecodeOptionsError
from livewhisper.protocol import Config, ProtocolError, parse_client_message
from livewhisper.server.errors import InvalidRequest
from livewhisper.server.uploads import transcription_request
from livewhisper.vocabulary import (
    PROMPT_TOKENS,
    fit_prompt,
    parse_terms,
    read_vocabulary,
    vocabulary_sentence,
)
from livewhisper.wer import key_term_error_rate

TERMS = ("Zbigniew Kowalczyk", "Siobhan Okonkwo", "Xiomara Tlaxcala", "Zyntrix", "Quorvex")


def test_terms_are_parsed_tidied_and_checked(tmp_path: Path) -> None:
    text = "# my names\nSiobhan  Okonkwo, Zyntrix; zyntrix\n\n Quorvex ,\n"
    assert parse_terms(text) == ("Siobhan Okonkwo", "Zyntrix", "Quorvex")
    path = tmp_path / "names.txt"
    path.write_text(text, encoding="utf-8")
    assert read_vocabulary(path) == ("Siobhan Okonkwo", "Zyntrix", "Quorvex")
    path.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no term"):
        read_vocabulary(path)
    with pytest.raises(ConfigError, match="cannot read the vocabulary file"):
        read_vocabulary(tmp_path / "missing.txt")
    with pytest.raises(DecodeOptionsError, match="characters long"):
        DecodeOptions(vocabulary=("x" * 200,))


def test_decode_options_hold_terms_as_plain_data() -> None:
    options = DecodeOptions(vocabulary="Zyntrix, Quorvex")  # type: ignore[arg-type]
    assert options.vocabulary == ("Zyntrix", "Quorvex")
    assert DecodeOptions(vocabulary=["Zyntrix"]).vocabulary == ("Zyntrix",)  # type: ignore[arg-type]
    assert DecodeOptions(vocabulary=None).vocabulary == ()  # type: ignore[arg-type]
    with pytest.raises(DecodeOptionsError, match="not int"):
        DecodeOptions(vocabulary=42)  # type: ignore[arg-type]
    code = (
        "import sys; from livewhisper.engine import DecodeOptions; "
        "DecodeOptions(vocabulary=('Zyntrix',)); assert '_pywhispercpp' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=deadline(60))


def test_prompt_puts_the_vocabulary_first_and_fits_the_budget() -> None:
    def words(text: str) -> int:
        return len(text.split())

    history = " ".join(f"w{i}" for i in range(300))
    prompt = fit_prompt(TERMS, history, words)
    assert prompt.startswith(vocabulary_sentence(TERMS))
    assert prompt.endswith("w299") and words(prompt) <= PROMPT_TOKENS
    # Too many terms: the first ones are kept, within the vocabulary's share.
    many = [f"Term{i}" for i in range(500)]
    prompt = fit_prompt(many, "the last words", words)
    assert "Term0," in prompt and "Term499" not in prompt
    assert prompt.endswith("the last words") and words(prompt) <= PROMPT_TOKENS
    assert fit_prompt((), "just history", words) == "just history"


def test_key_term_error_rate() -> None:
    pairs = [
        ("Ask Siobhan Okonkwo about Zyntrix.", "ask siobhan okonkwo about zintrix"),
        ("Zyntrix and Zyntrix again.", "Zyntrix and Syntrix again."),
        ("No names here.", "No names here."),
    ]
    assert key_term_error_rate(pairs, TERMS) == pytest.approx(2 / 4)
    assert key_term_error_rate([("no names", "no names")], TERMS) == 0.0


def test_cli_flags_make_the_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_text("Siobhan Okonkwo\nZyntrix\n", encoding="utf-8")
    parser = build_parser()
    for command in (["transcribe", "a.wav"], ["dictate"], ["type"]):
        args = parser.parse_args(
            [*command, "--vocabulary", str(path), "--hotwords", "Quorvex, zyntrix"]
        )
        assert decode_options(args).vocabulary == ("Siobhan Okonkwo", "Zyntrix", "Quorvex")
    for server in ("serve", "wyoming"):
        args = parser.parse_args([server, "--vocabulary", str(path), "--hotwords", "Quorvex"])
        assert server_settings(args)["vocabulary"] == ("Siobhan Okonkwo", "Zyntrix", "Quorvex")


def test_cli_refuses_hotwords_without_a_term(capsys: pytest.CaptureFixture[str]) -> None:
    from livewhisper.cli.main import main

    for given in ("", ", ,"):
        assert main(["transcribe", "tests/data/en/jfk.flac", "--hotwords", given]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "holds no term" in err, err


def test_cli_names_an_unreadable_vocabulary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from livewhisper.cli.main import main

    missing = tmp_path / "names.txt"
    assert main(["transcribe", "tests/data/en/jfk.flac", "--vocabulary", str(missing)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot read the vocabulary file" in err
    assert "readable UTF-8 text file" in err  # the fix, not only the fault
    assert main(["transcribe", "tests/data/en/jfk.flac", "--vocabulary", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot read the vocabulary file" in err


def test_session_config_takes_a_vocabulary() -> None:
    doc = {"type": "config", "vocabulary": ["Siobhan Okonkwo", " Zyntrix "]}
    config = parse_client_message(json.dumps(doc))
    assert isinstance(config, Config) and config.vocabulary == ("Siobhan Okonkwo", "Zyntrix")
    assert json.loads(json.dumps(config.to_dict()))["vocabulary"] == ["Siobhan Okonkwo", "Zyntrix"]
    as_text = parse_client_message('{"type": "config", "vocabulary": "Zyntrix, Quorvex"}')
    assert isinstance(as_text, Config) and as_text.vocabulary == ("Zyntrix", "Quorvex")
    unset = parse_client_message('{"type": "config"}')
    assert isinstance(unset, Config) and unset.vocabulary is None
    with pytest.raises(ProtocolError, match="vocabulary"):
        parse_client_message('{"type": "config", "vocabulary": 7}')


def test_upload_form_takes_a_vocabulary_field() -> None:
    def request(fields: dict[str, list[str]]) -> DecodeOptions:
        upload = UploadFile(io.BytesIO(b"x"), size=1, filename="a.wav")
        form = FormData([*((name, v) for name, vs in fields.items() for v in vs), ("file", upload)])
        return transcription_request(
            form, model="tiny.en", multilingual=False, default_vocabulary=("Quorvex",)
        ).options

    assert request({"vocabulary": ["Zyntrix,\nSiobhan Okonkwo"]}).vocabulary == (
        "Zyntrix",
        "Siobhan Okonkwo",
    )
    assert request({}).vocabulary == ("Quorvex",)
    assert request({"vocabulary": [""]}).vocabulary == ()
    prompted = request({"prompt": ["Zyntrix and Siobhan Okonkwo."]})
    assert prompted.initial_prompt == "Zyntrix and Siobhan Okonkwo."  # OpenAI's way
    with pytest.raises(InvalidRequest, match="characters long"):
        request({"vocabulary": ["y" * 300]})


@pytest.fixture(scope="module")
def names_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One espeak-ng sentence full of names Whisper cannot spell unaided."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is needed: apt-get install espeak-ng")
    text = "Please ask Siobhan Okonkwo about the Zyntrix invoice."
    path = tmp_path_factory.mktemp("names") / "names.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=deadline(60),
    )
    return path, text


@pytest.mark.slow
def test_vocabulary_steers_a_real_decode(tiny_engine: object, names_clip: tuple[Path, str]) -> None:
    from livewhisper.audio.decode import load_audio
    from livewhisper.filetranscribe import transcribe_file

    path, text = names_clip
    audio = load_audio(path)
    plain = tiny_engine.transcribe(audio, DecodeOptions(language="en")).text  # type: ignore[attr-defined]
    steered = tiny_engine.transcribe(  # type: ignore[attr-defined]
        audio, DecodeOptions(language="en", vocabulary=TERMS)
    ).text
    pairs = [(text, plain)], [(text, steered)]
    assert key_term_error_rate(pairs[1], TERMS) < key_term_error_rate(pairs[0], TERMS)
    # Files too: the vocabulary travels in the options, with the history prompt.
    result = transcribe_file(path, tiny_engine, DecodeOptions(language="en", vocabulary=TERMS))  # type: ignore[arg-type]
    assert key_term_error_rate([(text, result.text)], TERMS) < key_term_error_rate(pairs[0], TERMS)


@pytest.mark.slow
def test_a_term_heard_slightly_wrong_is_written_as_listed(tiny_engine: object) -> None:
    # Whisper, primed with "Knott", still writes JFK's "ask not": the spelling step
    # (livewhisper.spelling) writes the listed surname, inside the same time span.
    from conftest import EN, read_wav

    audio = read_wav(EN / "jfk.wav")
    options = DecodeOptions(language="en", vocabulary=("Knott",))
    result = tiny_engine.transcribe(audio, options)  # type: ignore[attr-defined]
    assert "ask Knott what your country" in result.text
    words = [w.word for w in result.words]
    assert " Knott" in words and " not" not in words
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(result.words))
