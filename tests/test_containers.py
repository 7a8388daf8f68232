"""Any container and codec people have, through the one decoder (PyAV): the command line,
standard input and the OpenAI endpoint hear the same words in each as in the WAV.

Every file is made here by ffmpeg from a test clip; none is kept in the repository.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from audio_fixtures import best_ncc, ffmpeg
from conftest import EN, deadline, read_wav, reference
from server_fixtures import MODEL, fixture_server_pool, running_server  # noqa: F401
from test_cli import ok, run

from livewhisper.audio.decode import SAMPLE_RATE, decode_audio, load_audio, probe
from livewhisper.errors import AudioError
from livewhisper.server import ModelPool, ServerThread
from livewhisper.wer import word_error_rate

CLIP = "jfk"
# name -> ffmpeg output options: every container and codec of issue 16.
CODECS: dict[str, tuple[str, ...]] = {
    "aac.m4a": ("-c:a", "aac"),
    "aac.mp4": ("-c:a", "aac"),
    "aac.mov": ("-c:a", "aac"),
    "opus.webm": ("-c:a", "libopus"),
    "vorbis.webm": ("-c:a", "libvorbis"),
    "opus.ogg": ("-c:a", "libopus"),
    "vorbis.ogg": ("-c:a", "libvorbis"),
    "opus.mkv": ("-c:a", "libopus"),
    "mp3.mp3": ("-c:a", "libmp3lame"),
    "flac.flac": ("-c:a", "flac"),
    "u8.wav": ("-c:a", "pcm_u8"),
    "s24-44k-stereo.wav": ("-c:a", "pcm_s24le", "-ar", "44100", "-ac", "2"),
    "s32.wav": ("-c:a", "pcm_s32le"),
    "f32-48k.wav": ("-c:a", "pcm_f32le", "-ar", "48000"),
    "f64.wav": ("-c:a", "pcm_f64le"),
    "mulaw-8k.wav": ("-c:a", "pcm_mulaw", "-ar", "8000"),
}


def _made(media: Path, name: str) -> Path:
    """The file made for ``name`` (a key of :data:`CODECS`, or ``video.mp4``): its stem
    holds the container too, so that ``--output-dir`` gets a distinct name for each."""
    kind = Path(name)
    return media / f"{CLIP}-{kind.stem}-{kind.suffix[1:]}{kind.suffix}"


@pytest.fixture(scope="module", name="media")
def fixture_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("containers")
    for name, options in CODECS.items():
        ffmpeg("-i", EN / f"{CLIP}.wav", *options, _made(out, name))
    # A video with a picture and a sound track, and one with a picture only.
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-i", EN / f"{CLIP}.wav",
        "-shortest", "-c:v", "mpeg4", "-c:a", "aac", _made(out, "video.mp4"),
    )  # fmt: skip
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-t", "1", "-c:v", "mpeg4",
        out / "silent-film.mp4",
    )  # fmt: skip
    return out


# Formats whose samples are themselves degraded, not by the decoder: 8-bit PCM (48 dB of
# quantisation noise) and telephone audio (8 kHz mu-law). Their words may differ a little
# (tiny.en: up to 3 words of 22); test_every_container_decodes_to_the_same_audio checks
# that the decode itself is exact (NCC).
DEGRADED = {"u8.wav": 0.15, "mulaw-8k.wav": 0.15}


def _files(media: Path) -> list[Path]:
    return sorted(media.glob(f"{CLIP}-*"))


# -- the decoder alone: fast -----------------------------------------------------------------


def test_every_container_decodes_to_the_same_audio(media: Path) -> None:
    original = read_wav(EN / f"{CLIP}.wav")
    for path in _files(media):
        audio = load_audio(path)
        assert audio.dtype == np.float32 and audio.ndim == 1, path.name
        assert abs(len(audio) - len(original)) < 0.05 * SAMPLE_RATE, path.name
        ncc, lag = best_ncc(original, audio, max_lag=1600)
        print(f"{path.name}: {len(audio) / SAMPLE_RATE:.3f} s, NCC {ncc:.4f} at lag {lag}")
        assert ncc > 0.95, path.name


def test_blocks_are_bounded_and_join_seamlessly(media: Path) -> None:
    path = _made(media, "s24-44k-stereo.wav")
    blocks = list(decode_audio(path, block_seconds=0.5))
    assert len(blocks) > 10
    assert max(len(b) for b in blocks) < SAMPLE_RATE  # half a second plus one frame
    np.testing.assert_allclose(np.concatenate(blocks), load_audio(path), atol=1e-6)


@pytest.mark.parametrize("channels", [2, 6, 9])
def test_channels_are_averaged_however_many(tmp_path: Path, channels: int) -> None:
    """Past 8 channels too (PyAV misreads planar frames there: packed floats are used)."""
    rng = np.random.default_rng(channels)
    data = (rng.standard_normal((16000, channels)) * 0.1).astype(np.float32)
    path = tmp_path / f"{channels}ch.wav"
    soundfile.write(path, data, 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), data.mean(axis=1), atol=1e-6)


def test_probe_reads_the_header(media: Path) -> None:
    info = probe(_made(media, "s24-44k-stereo.wav"))
    assert (info.codec, info.sample_rate, info.channels) == ("pcm_s24le", 44100, 2)
    assert info.uncompressed and info.duration == pytest.approx(11.0, abs=0.01)
    opus = probe(_made(media, "opus.ogg"))
    assert (opus.codec, opus.uncompressed) == ("opus", False)


def test_bad_files_are_one_named_error(media: Path, tmp_path: Path) -> None:
    cases = {
        "notes.txt": b"just some notes\n",
        "cut.m4a": _made(media, "aac.m4a").read_bytes()[:5000],  # no moov atom
        "header.wav": (EN / f"{CLIP}.wav").read_bytes()[:30],
        "noise.mp3": bytes(range(256)) * 64,
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AudioError) as caught:
            load_audio(tmp_path / name)
        message = str(caught.value)
        print(message)
        assert message.startswith(str(tmp_path / name)) and "\n" not in message
    with pytest.raises(AudioError, match="has no audio track"):
        load_audio(media / "silent-film.mp4")
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "absent.ogg")


def test_standard_input_is_a_file_like_any_other(media: Path) -> None:
    data = _made(media, "opus.webm").read_bytes()
    script = "from livewhisper.audio.decode import load_audio; print(len(load_audio('-')))"
    result = subprocess.run(
        [sys.executable, "-c", script], input=data, capture_output=True, timeout=60, check=True
    )
    assert abs(int(result.stdout) - 11 * SAMPLE_RATE) < 0.05 * SAMPLE_RATE
    assert len(load_audio(io.BytesIO(data))) == int(result.stdout)


@pytest.mark.slow
def test_an_hour_decodes_in_flat_memory(tmp_path: Path) -> None:
    """An hour of 48 kHz stereo Opus, decoded and cut at pauses, in well under the 230 MB
    the hour takes at 16 kHz mono."""
    hour = tmp_path / "hour.webm"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=3600",
        "-ac", "2", "-c:a", "libopus", "-b:a", "24k", hour,
    )  # fmt: skip
    script = textwrap.dedent(
        f"""
        import resource
        from livewhisper.audio.decode import decode_audio
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        total = sum(len(block) for block in decode_audio({str(hour)!r}))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(total, (after - before) // 1024)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=deadline(600),
        check=True,
    )
    samples, grown_mb = map(int, result.stdout.split())
    print(f"an hour: {samples / SAMPLE_RATE:.0f} s decoded, peak RSS grew {grown_mb} MB")
    assert abs(samples / SAMPLE_RATE - 3600) < 1
    assert grown_mb < 60
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss > 0


# -- the words: the command line and the endpoint --------------------------------------------


def _wer(text: str) -> float:
    return word_error_rate(reference(CLIP), text)


@pytest.fixture(scope="module", name="wav_wer")
def fixture_wav_wer(model_cache: Path) -> float:
    result = ok(run("transcribe", EN / f"{CLIP}.wav", "--model", MODEL, timeout=300))
    return _wer(result.stdout)


@pytest.mark.slow
def test_cli_hears_the_same_words_in_every_container(media: Path, wav_wer: float) -> None:
    out = media / "out"
    files = _files(media)
    ok(run("transcribe", *files, "--model", MODEL, "-f", "json", "--output-dir", out, timeout=600))
    lines = [f"wav: WER {wav_wer:.3f}"]
    allowed = {_made(media, name).name: bound for name, bound in DEGRADED.items()}
    worse = {}
    for path in files:
        text = json.loads((out / f"{path.stem}.json").read_text())["text"]
        lines.append(f"{path.name}: WER {_wer(text):.3f}")
        if _wer(text) - wav_wer > allowed.get(path.name, 0.005):
            worse[path.name] = text
    print("\n".join(lines))
    assert not worse, worse


def test_cli_reads_standard_input_and_names_bad_files(
    media: Path, tmp_path: Path, wav_wer: float
) -> None:
    piped = subprocess.run(
        [sys.executable, "-m", "livewhisper.cli.main", "transcribe", "-", "--model", MODEL],
        input=_made(media, "aac.m4a").read_bytes(),
        capture_output=True,
        timeout=deadline(300),
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert _wer(piped.stdout.decode()) - wav_wer <= 0.005

    notes = tmp_path / "notes.m4a"
    notes.write_text("not audio\n")
    result = run("transcribe", notes, media / "silent-film.mp4", "--model", MODEL, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 2, result.stderr
    assert "notes.m4a is not audio" in errors[0] and "silent-film.mp4 has no audio" in errors[1]


@pytest.fixture(scope="module", name="server")
def fixture_server(server_pool: ModelPool) -> Iterator[ServerThread]:
    with running_server(server_pool, max_upload_bytes=4_000_000) as server:
        yield server


def _transcribe(server: ServerThread, path: Path, **options: Any) -> Any:
    import openai

    client = openai.OpenAI(base_url=server.api_url, api_key="unused", max_retries=0, timeout=120)
    with path.open("rb") as file:
        return client.audio.transcriptions.create(model=MODEL, file=file, **options)


@pytest.mark.parametrize(
    "name",
    [
        "opus.webm",  # what browsers record; the others (11 s decoded each) in the full suite
        *(
            pytest.param(name, marks=pytest.mark.slow)
            for name in ["aac.m4a", "vorbis.ogg", "mp3.mp3", "flac.flac", "video.mp4"]
        ),
    ],
)
def test_the_openai_endpoint_hears_the_same_words(
    server: ServerThread, media: Path, wav_wer: float, name: str
) -> None:
    pytest.importorskip("openai")
    result = _transcribe(server, _made(media, name), response_format="verbose_json")
    print(f"{name} through the endpoint: WER {_wer(result.text):.3f}")
    assert _wer(result.text) - wav_wer <= 0.005
    assert result.duration == pytest.approx(11.0, abs=0.05)


def test_the_endpoint_refuses_a_film_without_sound(server: ServerThread, media: Path) -> None:
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.BadRequestError) as caught:
        _transcribe(server, media / "silent-film.mp4")
    error = caught.value.response.json()["error"]
    assert error["code"] == "invalid_file" and "has no audio track" in error["message"]
