"""load_audio and as_mono_float32: real speech through real codecs, and every error case."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
import soxr
from audio_fixtures import best_ncc, fixture_jfk_audio, fixture_jfk_path  # noqa: F401
from conftest import deadline

from livewhisper.audio import (
    SAMPLE_RATE,
    StreamResampler,
    as_mono_float32,
    load_audio,
    to_mono_float32,
)
from livewhisper.errors import AudioError


def _convert(source: Path, target: Path, tool: str, *options: str) -> Path:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    if tool == "sox":
        cmd = ["sox", str(source), *options, str(target)]
    else:
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(source), *options, str(target)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=deadline(60), check=False)
    if result.returncode != 0 and tool == "sox" and target.suffix == ".mp3":
        pytest.skip(f"this sox cannot write mp3 (libsox-fmt-mp3): {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return target


@pytest.mark.parametrize(
    ("name", "tool", "options"),
    [
        ("speech.flac", "sox", ()),
        ("speech.ogg", "sox", ()),
        # Two mp3 encoders: ffmpeg's file is gapless, sox's starts with encoder delay.
        ("speech.mp3", "ffmpeg", ()),
        ("speech-sox.mp3", "sox", ()),
        ("speech-44k-stereo.wav", "sox", ("-r", "44100", "-c", "2")),
        ("speech-8k.wav", "ffmpeg", ("-ar", "8000")),
    ],
)
def test_load_audio_formats_match_original(
    tmp_path: Path,
    jfk_path: Path,
    jfk_audio: npt.NDArray[np.float32],
    name: str,
    tool: str,
    options: tuple[str, ...],
) -> None:
    path = _convert(jfk_path, tmp_path / name, tool, *options)
    info = soundfile.info(path)
    if "44k" in name:
        assert (info.samplerate, info.channels) == (44100, 2)

    audio = load_audio(path)

    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.flags.c_contiguous
    assert abs(len(audio) - len(jfk_audio)) < 0.1 * SAMPLE_RATE  # mp3 pads a frame or two
    # mp3 delays by an encoder/decoder offset: search +-100 ms.
    ncc, lag = best_ncc(jfk_audio, audio, max_lag=1600)
    print(f"{name}: NCC {ncc:.4f} at lag {lag}")
    assert ncc > 0.95


@pytest.mark.parametrize(("rate", "channels"), [(48000, 1), (22050, 2), (44100, 6)])
def test_file_and_stream_of_the_same_samples_resample_alike(
    tmp_path: Path, jfk_audio: npt.NDArray[np.float32], rate: int, channels: int
) -> None:
    """One resampler for files and streams (issue 20): a WAV file and the same samples
    pushed in 1024-frame chunks, as a Wyoming client sends them, become the same 16 kHz
    input, so the model hears one thing whichever way the audio came."""
    other_rate = soxr.resample(jfk_audio, SAMPLE_RATE, rate, quality="VHQ")
    frames = np.repeat(other_rate[:, None], channels, axis=1) * np.linspace(0.6, 1.0, channels)
    pcm = np.clip(np.round(frames * 32767), -32768, 32767).astype(np.int16)
    path = tmp_path / "same.wav"
    soundfile.write(path, pcm, rate, subtype="PCM_16")

    from_file = load_audio(path)
    stream = StreamResampler(rate, channels=channels)
    pieces = [stream.process(pcm[i : i + 1024] / 32768.0) for i in range(0, len(pcm), 1024)]
    from_stream = np.concatenate([*pieces, stream.flush()])

    assert len(from_file) == len(from_stream)
    np.testing.assert_allclose(from_file, from_stream, atol=1e-5)


def test_load_wav_at_16k_is_exact(jfk_path: Path, jfk_audio: npt.NDArray[np.float32]) -> None:
    audio = load_audio(jfk_path)
    np.testing.assert_array_equal(audio, jfk_audio)


def test_load_audio_accepts_str_path(jfk_path: Path) -> None:
    assert len(load_audio(str(jfk_path))) == 11 * SAMPLE_RATE


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=r"not found.*nope\.wav"):
        load_audio(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path)


def test_text_file_named_wav(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n")
    with pytest.raises(AudioError, match=r"notes\.wav is not audio") as info:
        load_audio(path)
    assert "m4a" in str(info.value)  # says what it reads


def test_truncated_header(tmp_path: Path, jfk_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(jfk_path.read_bytes()[:30])
    with pytest.raises(AudioError, match=r"cut\.wav"):
        load_audio(path)


def test_empty_wav(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, dtype=np.int16), 16000)
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(AudioError, match=r"empty\.wav contains no audio"),
    ):
        load_audio(path)
    # Its header rightly says 0 samples: the one line is the error, not a damage warning.
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_float_wav_with_nan_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    data = np.zeros(100, dtype=np.float32)
    data[10] = np.nan
    soundfile.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav.*NaN.*index 10"):
        load_audio(path)


# as_mono_float32 -------------------------------------------------------------------------


def test_int16_scaling() -> None:
    pcm = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    out = as_mono_float32(pcm)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.5, -1.0, 32767 / 32768])


def test_int32_scaling() -> None:
    out = as_mono_float32(np.array([2**30, -(2**31)], dtype=np.int32))
    np.testing.assert_allclose(out, [0.5, -1.0])


def test_float32_mono_16k_passes_through() -> None:
    samples = np.linspace(-1, 1, 100, dtype=np.float32)
    out = as_mono_float32(samples)
    np.testing.assert_array_equal(out, samples)


def test_float64_and_downmix() -> None:
    stereo = np.stack([np.full(10, 0.25), np.full(10, -0.75)], axis=1)  # float64 (n, 2)
    out = as_mono_float32(stereo)
    assert out.dtype == np.float32 and out.shape == (10,)
    np.testing.assert_allclose(out, -0.25)


def test_int16_stereo_downmix() -> None:
    stereo = np.array([[16384, 0], [-32768, -32768]], dtype=np.int16)
    np.testing.assert_allclose(as_mono_float32(stereo), [0.25, -1.0])


def test_non_contiguous_input_becomes_contiguous() -> None:
    samples = np.arange(200, dtype=np.float32)[::2] / 200
    out = as_mono_float32(samples)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, samples)


def test_resamples_44k_stereo_sine() -> None:
    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    out = as_mono_float32(np.stack([tone, tone], axis=1).astype(np.float32), 44100)
    assert len(out) == 16000
    expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    # Away from the edges, where the filter has no neighbours to work with.
    np.testing.assert_allclose(out[200:-200], expected[200:-200], atol=2e-3)


def test_empty_array_is_empty() -> None:
    assert as_mono_float32(np.zeros(0, dtype=np.float32), 44100).shape == (0,)
    assert to_mono_float32(np.zeros((0, 2), dtype=np.int16)).shape == (0,)


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.array([0.0, np.nan], dtype=np.float32), 16000, "NaN or infinite.*index 1"),
        (np.array([np.inf, 0.0]), 16000, "NaN or infinite.*index 0"),
        (np.array([1e300, 0.0]), 16000, "NaN or infinite"),  # overflows float32
        (np.zeros((4, 2, 2), dtype=np.float32), 16000, r"3-d shape \(4, 2, 2\)"),
        (np.float32(0.5), 16000, "0-d"),
        ([[[0.0]]], 16000, "3-d"),
        (np.array(["a", "b"]), 16000, "unsupported sample type"),
        (np.array([True, False]), 16000, "unsupported sample type bool"),
        (np.array([1, 2], dtype=np.int8), 16000, "unsupported sample type int8"),
        (np.zeros((2, 16000), dtype=np.float32), 16000, r"samples\.T"),
        (np.zeros((5, 0), dtype=np.float32), 16000, "no channels"),
        (np.zeros(10, dtype=np.float32), 0, "positive"),
        (np.zeros(10, dtype=np.float32), -16000, "positive"),
        (np.zeros(10, dtype=np.float32), float("nan"), "positive"),
        (np.zeros(10, dtype=np.float32), "16000", "must be a number"),
    ],
)
def test_as_mono_float32_errors(samples: object, rate: object, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        as_mono_float32(samples, rate)  # type: ignore[arg-type]
