"""A language is read the same way everywhere: codes and English names in any case, and
one English-only rule (``check_options``) for the Python API, the command line and the
server's uploads and settings."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import pytest
from conftest import EN
from starlette.datastructures import FormData, UploadFile
from test_cli import run

from livewhisper.engine import DecodeOptions, check_options
from livewhisper.errors import ConfigError, DecodeOptionsError
from livewhisper.server.errors import InvalidRequest
from livewhisper.server.pool import ModelPool
from livewhisper.server.uploads import transcription_request

SPELLINGS = {"en": "en", "english": "en", "English": "en", " ENGLISH ": "en"}
SPELLINGS |= {"es": "es", "spanish": "es", "Spanish": "es", "haitian creole": "ht"}


def _upload(language: str, multilingual: bool) -> str | None:
    form = FormData({"language": language, "file": UploadFile(io.BytesIO(b"x"), size=1)})
    request = transcription_request(form, model="tiny.en", multilingual=multilingual)
    return request.options.language


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_every_spelling_means_one_code_everywhere(spelling: str) -> None:
    code = SPELLINGS[spelling]
    assert DecodeOptions(language=spelling).language == code
    assert check_options(DecodeOptions(language=spelling), "base", True) == code
    assert _upload(spelling, multilingual=True) == code


@pytest.mark.parametrize("spelling", ["es", "spanish", "Spanish"])
def test_one_english_only_rule(spelling: str) -> None:
    with pytest.raises(DecodeOptionsError) as api:
        check_options(DecodeOptions(language=spelling), "tiny.en", False)
    with pytest.raises(InvalidRequest) as upload:
        _upload(spelling, multilingual=False)
    assert str(upload.value) == str(api.value) and "English-only" in str(api.value)
    assert _upload("English", multilingual=False) == "en"


def test_unknown_languages_are_refused_alike() -> None:
    with pytest.raises(DecodeOptionsError) as api:
        DecodeOptions(language="klingon")
    with pytest.raises(InvalidRequest) as upload:
        _upload("klingon", multilingual=True)
    assert str(upload.value) == str(api.value)


def test_the_server_setting_uses_the_same_rule() -> None:
    # Both servers check their --language with ModelPool.check_language.
    class _Pool:
        default_model = "tiny.en"
        language = ModelPool.language
        multilingual_remedy = ModelPool.multilingual_remedy

        def __init__(self) -> None:
            self.models = ["tiny.en"]

        def multilingual(self, model: str | None = None) -> bool:
            return model == "base"

    pool = cast(ModelPool, _Pool())
    for spelling, refused in (("Spanish", True), ("english", False), ("auto", False)):
        if refused:
            with pytest.raises(ConfigError, match="English-only.*start it with -m base-q8_0"):
                ModelPool.check_language(pool, spelling)
        else:
            ModelPool.check_language(pool, spelling)
    # A server that also serves a multilingual model names it, not one it lacks.
    pool.models.append("base")
    with pytest.raises(ConfigError, match="English-only.*ask for model 'base', which"):
        ModelPool.check_language(pool, "es")


@pytest.mark.parametrize(("spelling", "refused"), [("English", False), ("spanish", True)])
def test_the_command_line_reads_names(model_cache: Path, spelling: str, refused: bool) -> None:
    result = run("transcribe", EN / "ps_0930.wav", "--language", spelling)
    assert "Traceback" not in result.stderr
    if refused:
        assert result.returncode == 1 and "English-only" in result.stderr
        assert result.stdout == ""
    else:
        assert result.returncode == 0 and result.stdout.strip(), result.stderr
