"""Subtitles shaped for reading: the rules of :mod:`livewhisper.subtitles` on made-up words
(pure, fast), then real srt and vtt documents read back by the ``srt`` and ``webvtt-py``
parsers, from the command line and the OpenAI endpoint."""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import EN
from server_fixtures import MODEL, fixture_server_pool, running_server  # noqa: F401
from test_cli import ok, run

from livewhisper.errors import ConfigError
from livewhisper.events import Segment, Word
from livewhisper.formats import CueWriter, to_srt, to_vtt
from livewhisper.server import ModelPool, ServerThread
from livewhisper.subtitles import Cue, CueLayout, shape_cues, wrap_lines

srt = pytest.importorskip("srt", reason="pip install srt (the test extra has it)")
webvtt = pytest.importorskip("webvtt", reason="pip install webvtt-py (the test extra has it)")

VOCABULARY = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "we",
    "ask",
    "not",
    "what",
    "your",
    "country",
    "can",
    "do",
    "for",
    "you",
    "fellow",
    "Americans",
    "extraordinarily,",
    "unbelievable.",
    "yes.",
    "well,",
    "however;",
    "perhaps?",
    "indeed!",
]


def _speech(seed: int, n: int = 200) -> tuple[Segment, ...]:
    """``n`` words with pauses now and then, as segments of about 25 s."""
    rng = random.Random(seed)
    words, t = [], rng.uniform(0, 2)
    for _ in range(n):
        length = rng.uniform(0.1, 0.7)
        if rng.random() < 0.03:  # Whisper gives some words no duration at all
            length = 0.0
        words.append(Word(" " + rng.choice(VOCABULARY), round(t, 3), round(t + length, 3), 0.9))
        t += length + (rng.uniform(1.0, 4.0) if rng.random() < 0.05 else rng.uniform(0, 0.2))
    segments, i = [], 0
    while i < len(words):
        part = words[i : i + rng.randint(20, 70)]
        text = "".join(w.word for w in part)
        segments.append(Segment(text, part[0].start, part[-1].end, tuple(part)))
        i += len(part)
    return tuple(segments)


def _check(cues: list[Cue], segments: tuple[Segment, ...], layout: CueLayout, end: float) -> None:
    """Every rule: the words in order and all there, the lines, the times."""
    said = [w.word.strip() for s in segments for w in s.words]
    assert " ".join(" ".join(c.lines) for c in cues).split() == said
    for cue in cues:
        assert 1 <= len(cue.lines) <= layout.max_line_count, cue
        for line in cue.lines:
            assert len(line) <= layout.max_line_width or " " not in line, cue
        assert 0 <= cue.start < cue.end <= end, cue
        assert cue.end - cue.start <= layout.max_duration + 1e-9, cue
    for before, after in itertools.pairwise(cues):
        assert before.end <= after.start, (before, after)
        gap_allowed = after.start - before.start >= layout.min_duration
        if gap_allowed:  # room for the minimum: it was given
            assert before.end - before.start >= min(layout.min_duration, 1.0) - 1e-9, before


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "layout",
    [CueLayout(), CueLayout(max_line_width=32, max_line_count=1), CueLayout(max_duration=3.0)],
)
def test_cues_keep_every_rule(seed: int, layout: CueLayout) -> None:
    segments = _speech(seed)
    end = segments[-1].end + 0.3
    _check(shape_cues(segments, layout, end), segments, layout, end)


def test_a_cue_ends_at_a_sentence_rather_than_mid_phrase() -> None:
    text = "This is the first sentence of the talk. And here a second one comes along slowly"
    words = tuple(Word(f" {w}", i * 0.4, i * 0.4 + 0.3, 1.0) for i, w in enumerate(text.split()))
    cues = shape_cues([Segment(text, 0, words[-1].end, words)])
    assert cues[0].text == "This is the first sentence of the talk."
    assert cues[1].text == "And here a second one comes along slowly"  # one line holds it


def test_lines_are_balanced_and_break_after_a_comma() -> None:
    assert wrap_lines(["So,", "my", "fellow", "Americans,", "ask", "not"], 42, 2) == (
        "So, my fellow Americans, ask not",
    )
    words = [
        "And",
        "so",
        "my",
        "fellow",
        "Americans,",
        "ask",
        "not",
        "what",
        "your",
        "country",
        "can",
        "do",
    ]
    assert wrap_lines(words, 42, 2) == (
        "And so my fellow Americans,",
        "ask not what your country can do",
    )
    assert wrap_lines(words, 20, 2) is None  # three lines' worth


def test_a_long_pause_ends_a_cue_and_the_audio_bounds_the_last() -> None:
    words = (Word(" Hello.", 0.0, 0.4, 1.0), Word(" Again", 5.0, 5.3, 1.0))
    cues = shape_cues([Segment(" Hello. Again", 0.0, 5.3, words)], duration=5.5)
    assert [c.text for c in cues] == ["Hello.", "Again"]
    assert (cues[0].start, cues[0].end) == (0.0, 1.0)  # shown for the minimum
    assert (cues[1].start, cues[1].end) == (4.5, 5.5)  # moved back inside the audio


def test_segments_without_words_are_spread_by_length() -> None:
    segment = Segment(" " + " ".join(["word"] * 30), 0.0, 12.0)
    cues = shape_cues([segment])
    assert len(cues) == 2 and all(len(line) <= 42 for c in cues for line in c.lines)


@pytest.mark.parametrize(
    "options",
    [
        {"max_line_width": 0},
        {"max_line_count": 1.5},
        {"max_duration": -1.0},
        {"min_duration": 8.0},
        {"pause": float("nan")},
    ],
)
def test_a_layout_out_of_range_is_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CueLayout(**options)


def test_srt_and_vtt_documents_parse() -> None:
    segments = _speech(7)
    layout = CueLayout(max_line_width=36)
    end = segments[-1].end + 1
    parsed = list(srt.parse(to_srt(segments, layout, end)))
    cues = shape_cues(segments, layout, end)
    assert [p.content for p in parsed] == [c.text for c in cues]
    assert [p.index for p in parsed] == list(range(1, len(cues) + 1))
    assert all(
        p.start.total_seconds() == pytest.approx(c.start) for p, c in zip(parsed, cues, strict=True)
    )
    vtt = webvtt.from_buffer(io.StringIO(to_vtt(segments, layout, end)))
    assert [c.text for c in vtt] == [c.text for c in cues]
    assert all(c.end_in_seconds <= end for c in vtt)


def test_the_live_writer_shapes_each_final_and_never_overlaps() -> None:
    out = io.StringIO()
    writer = CueWriter(out, "srt")
    for segment in _speech(3, n=120):
        writer.write(segment)
    subtitles = list(srt.parse(out.getvalue()))
    assert len(subtitles) == writer.count > 4
    for before, after in itertools.pairwise(subtitles):
        assert before.end <= after.start
    assert all(len(line) <= 42 for s in subtitles for line in s.content.splitlines())


# -- real documents: the command line and the endpoint ---------------------------------------


def _parsed_srt(text: str) -> list[Any]:
    subtitles = list(srt.parse(text))
    assert subtitles, text
    return subtitles


def _check_document(subtitles: list[Any], width: int, lines: int, end: float) -> None:
    for s in subtitles:
        assert 1 <= len(s.content.splitlines()) <= lines, s
        assert all(len(line) <= width for line in s.content.splitlines()), s
        assert 0 <= s.start.total_seconds() < s.end.total_seconds() <= end + 1e-3, s
        assert (s.end - s.start).total_seconds() <= 7.0 + 1e-3
    for before, after in itertools.pairwise(subtitles):
        assert before.end <= after.start


@pytest.mark.slow
def test_cli_subtitles_follow_the_flags(model_cache: Path, tmp_path: Path) -> None:
    clip = EN / "mfa_cold_corpus.wav"
    result = ok(
        run("transcribe", clip, "--model", MODEL, "-f", "srt", "--max-line-width", "30",
            "--max-line-count", "1", timeout=300)
    )  # fmt: skip
    _check_document(_parsed_srt(result.stdout), 30, 1, 25.72)
    vtt = ok(run("transcribe", clip, "--model", MODEL, "-f", "vtt", timeout=300)).stdout
    cues = list(webvtt.from_buffer(io.StringIO(vtt)))
    assert cues and all(len(line) <= 42 for c in cues for line in c.text.splitlines())
    assert max(len(c.text.splitlines()) for c in cues) <= 2


def test_cli_refuses_a_layout_out_of_range() -> None:
    result = run("transcribe", EN / "jfk.wav", "--max-line-width", "0")
    assert result.returncode == 2 and "--max-line-width" in result.stderr


@pytest.fixture(scope="module", name="server")
def fixture_server(server_pool: ModelPool) -> Iterator[ServerThread]:
    with running_server(server_pool) as server:
        yield server


@pytest.mark.slow  # three server decodes of 11 s of speech
def test_the_endpoint_takes_the_same_options(server: ServerThread) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.api_url, api_key="unused", max_retries=0, timeout=120)

    def create(fmt: str, **shape: Any) -> str:
        with (EN / "jfk.wav").open("rb") as file:
            text: str = client.audio.transcriptions.create(
                model=MODEL, file=file, response_format=fmt, extra_body=shape
            )
            return text

    narrow = create("srt", max_line_width=20, max_line_count=1)
    _check_document(_parsed_srt(narrow), 20, 1, 11.0)
    assert len(_parsed_srt(narrow)) > len(_parsed_srt(create("srt")))
    vtt = list(webvtt.from_buffer(io.StringIO(create("vtt", max_cue_duration=3))))
    assert vtt and all(c.end_in_seconds - c.start_in_seconds <= 3.0 + 1e-3 for c in vtt)
    with pytest.raises(openai.BadRequestError) as caught:
        create("srt", max_line_width="wide")
    assert caught.value.response.json()["error"]["param"] == "max_line_width"
