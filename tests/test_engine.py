"""The whisper.cpp engine on real weights and real speech."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import DATA, deadline

from livewhisper.engine import DecodeOptions, Engine, check_options
from livewhisper.errors import AudioError, DecodeOptionsError
from livewhisper.languages import LANGUAGES
from livewhisper.wer import normalize, word_error_rate

JFK_WORDS = (
    "and so my fellow americans ask not what your country can do for you "
    "ask what you can do for your country"
)


@pytest.mark.parametrize(
    "model",
    [pytest.param("tiny.en", marks=pytest.mark.slow), "tiny.en-q8_0"],  # f16: slower
)
def test_jfk_gives_the_exact_words(model: str, jfk: np.ndarray) -> None:
    with Engine(model, threads=2) as engine:
        result = engine.transcribe(jfk, DecodeOptions(language="en"))
    assert normalize(result.text) == JFK_WORDS
    assert result.language == "en"
    assert result.text[0].isupper() and result.text.endswith(".")  # punctuated


def test_words_carry_monotonic_times_within_the_audio(tiny_engine: Engine, jfk: np.ndarray) -> None:
    result = tiny_engine.transcribe(jfk)
    words = result.words
    assert normalize("".join(w.word for w in words)) == JFK_WORDS
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= result.duration for w in words)
    assert words[-1].end > 9.0  # "country" is said at the end of the 11 s clip
    assert all(0.0 < w.probability <= 1.0 for w in words)


@pytest.mark.slow
def test_options_never_leak_into_the_next_call(base_engine: Engine, jfk: np.ndarray) -> None:
    fresh = base_engine.transcribe(jfk)
    assert fresh.language == "en"
    odd = DecodeOptions(
        language="de",
        translate=True,
        initial_prompt="Hallo Welt.",
        beam_size=3,
        temperature=0.4,
        temperature_increment=0.0,
        single_segment=True,
    )
    base_engine.transcribe(jfk, odd)
    again = base_engine.transcribe(jfk)
    assert again.text == fresh.text and again.language == "en"
    assert [s.start for s in again.segments] == [s.start for s in fresh.segments]


@pytest.mark.slow
def test_spanish_with_language_set_and_detected(
    base_engine: Engine, spanish_speech: tuple[np.ndarray, str]
) -> None:
    audio, text = spanish_speech
    chosen = base_engine.transcribe(audio, DecodeOptions(language="es"))
    assert chosen.language == "es"
    assert word_error_rate(text, chosen.text) < 0.5, chosen.text
    detected = base_engine.transcribe(audio)
    assert detected.language == "es"
    assert word_error_rate(text, detected.text) < 0.5, detected.text


def test_short_chunks_are_padded_not_dropped(tiny_engine: Engine, jfk: np.ndarray) -> None:
    # "And so my fellow" lies within the first 1.9 s; whisper.cpp alone returns nothing < 1 s
    result = tiny_engine.transcribe(jfk[: int(0.9 * 16000)])
    assert result.duration == pytest.approx(0.9)
    assert "and" in normalize(result.text).split()


@pytest.mark.slow
def test_int16_and_other_rates_are_accepted(tiny_engine: Engine, jfk: np.ndarray) -> None:
    as_int16 = (jfk * 32767).astype(np.int16)
    assert normalize(tiny_engine.transcribe(as_int16).text) == JFK_WORDS
    at_8k = jfk[::2].copy()  # crude decimation; the engine resamples 8 kHz back up
    assert word_error_rate(JFK_WORDS, tiny_engine.transcribe(at_8k, sample_rate=8000).text) < 0.3


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.full(16000, np.nan, dtype=np.float32), "NaN|finite"),
        (np.zeros((2, 2, 2), dtype=np.float32), "dimension|shape"),
        (np.array(["a", "b"]), "dtype|numeric|type"),
    ],
)
def test_bad_audio_is_a_clear_error(tiny_engine: Engine, audio: np.ndarray, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        tiny_engine.transcribe(audio)


def test_bad_sample_rate_is_a_clear_error(tiny_engine: Engine, jfk: np.ndarray) -> None:
    with pytest.raises(AudioError, match="sample rate"):
        tiny_engine.transcribe(jfk, sample_rate=0)


def test_bad_options_are_clear_errors(tiny_engine: Engine, jfk: np.ndarray) -> None:
    with pytest.raises(DecodeOptionsError, match="unknown language"):
        DecodeOptions(language="klingon")
    with pytest.raises(DecodeOptionsError, match="beam_size"):
        DecodeOptions(beam_size=0)
    with pytest.raises(DecodeOptionsError, match="English-only"):
        tiny_engine.transcribe(jfk, DecodeOptions(language="es"))
    assert DecodeOptions(language="auto").language is None
    assert DecodeOptions(language=" ES ").language == "es"


@pytest.mark.slow
def test_each_thread_gets_its_own_context(tiny_engine: Engine, jfk: np.ndarray) -> None:
    results: dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = tiny_engine.transcribe(jfk[: 16000 * (6 + i)]).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=deadline(60))
    assert len(results) == 2
    assert normalize(results[0]).startswith("and so my fellow americans")
    assert len(normalize(results[1]).split()) >= len(normalize(results[0]).split())


@pytest.mark.slow
def test_exiting_mid_decode_is_clean(model_cache: object) -> None:
    # whisper.cpp calls back into Python while decoding; exiting under it used to crash
    code = (
        "import threading, time, numpy as np\n"
        "from livewhisper.engine import Engine\n"
        "e = Engine('tiny.en-q8_0', threads=2)\n"
        "audio = (np.random.default_rng(0).standard_normal(16000 * 20) * 0.1).astype('f4')\n"
        "threading.Thread(target=lambda: e.transcribe(audio), daemon=True).start()\n"
        "time.sleep(0.3)\n"
    )
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=deadline(120)
        )
        assert done.returncode == 0, done.stderr.decode()[-500:]


def test_english_only_models_refuse_other_languages_up_front() -> None:
    assert check_options(DecodeOptions(), "tiny.en", multilingual=False) == "en"
    assert check_options(DecodeOptions(language="es"), "base", multilingual=True) == "es"
    with pytest.raises(DecodeOptionsError, match="cannot translate"):
        check_options(DecodeOptions(translate=True), "tiny.en", multilingual=False)


def test_an_engine_refuses_use_after_close(model_cache: object) -> None:
    # A thread's context outlived close() and went on to whisper.cpp freed: a crash. In a
    # child process, so that the crash fails this test rather than ending the suite.
    code = (
        "import threading\n"
        "from livewhisper import ClosedError\n"
        "from livewhisper.audio import load_audio\n"
        "from livewhisper.engine import Engine\n"
        f"audio = load_audio({str(DATA / 'en' / 'ps_cards_002.flac')!r})\n"
        "engine = Engine('tiny.en-q8_0', threads=2)\n"
        "assert engine.transcribe(audio).text.strip() and not engine.closed\n"
        "engine.close()\n"
        "engine.close()  # twice is fine\n"
        "assert engine.closed\n"
        "errors = []\n"
        "def use():\n"
        "    try:\n"
        "        engine.transcribe(audio)\n"
        "    except ClosedError as exc:\n"
        "        errors.append(str(exc))\n"
        "use()  # the thread that loaded the model\n"
        "other = threading.Thread(target=use)  # and one that never used it\n"
        "other.start(); other.join()\n"
        "print(errors)\n"
        "assert len(errors) == 2 and all('closed' in e for e in errors), errors\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=deadline(300))
    assert done.returncode == 0, done.stderr.decode()[-800:]


def test_options_are_plain_data() -> None:
    # Building options used to load whisper.cpp (to check the language) and register its
    # exit hooks: a fresh process shows that nothing native is touched any more.
    code = (
        "import atexit, sys\n"
        "import livewhisper\n"
        "DecodeOptions = livewhisper.DecodeOptions  # imports load (logging registers a hook)\n"
        "hooks = atexit._ncallbacks()\n"
        "options = DecodeOptions(language='Spanish', beam_size=2)\n"
        "native = sorted(m for m in sys.modules if 'whispercpp' in m)\n"
        "assert not native, f'building options loaded {native}'\n"
        "assert atexit._ncallbacks() == hooks, 'building options registered exit hooks'\n"
        "assert options.language == 'es', options\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=deadline(300))
    assert done.returncode == 0, done.stderr.decode()[-800:]


def test_the_language_table_is_whisper_cpps() -> None:
    import _pywhispercpp as pw

    assert len(LANGUAGES) == pw.whisper_lang_max_id() + 1
    for index, (code, name) in enumerate(LANGUAGES.items()):
        assert pw.whisper_lang_str(index) == code
        assert pw.whisper_lang_id(name) == index, name  # whisper.cpp takes names too
        assert DecodeOptions(language=name.title()).language == code
