"""StreamResampler: blocks of any size give the same signal as one-shot resampling."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import soxr
from audio_fixtures import best_ncc, fixture_jfk_audio, fixture_jfk_path  # noqa: F401

from livewhisper.audio import SAMPLE_RATE, StreamResampler
from livewhisper.errors import AudioError


def _blocks(signal: np.ndarray, seed: int) -> list[np.ndarray]:
    sizes = np.random.default_rng(seed).integers(1, 2000, size=len(signal))
    cuts = np.cumsum(sizes)
    return np.split(signal, cuts[cuts < len(signal)])


@pytest.mark.parametrize("rate", [44100, 48000, 8000, 22050.5])
def test_stream_of_random_blocks_matches_one_shot(
    jfk_audio: npt.NDArray[np.float32], rate: float
) -> None:
    source = soxr.resample(jfk_audio, SAMPLE_RATE, rate).astype(np.float32)
    stereo = np.stack([source, source], axis=1)
    resampler = StreamResampler(rate, channels=2)
    parts = [resampler.process(block) for block in _blocks(stereo, seed=int(rate))]
    parts.append(resampler.flush())
    out = np.concatenate(parts)

    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - len(jfk_audio)) <= 2
    ncc, lag = best_ncc(jfk_audio, out, max_lag=800)
    assert ncc > 0.99, (ncc, lag)
    assert abs(lag) <= 2  # soxr compensates its own delay in streaming mode too


def test_downmix_averages_channels() -> None:
    resampler = StreamResampler(16000, channels=2)
    block = np.array([[1.0, 0.0], [0.5, -0.5]], dtype=np.float32)
    np.testing.assert_array_equal(resampler.process(block), [0.5, 0.0])


def test_identity_path_copies() -> None:
    resampler = StreamResampler(16000)
    block = np.arange(5, dtype=np.float32)
    out = resampler.process(block)
    np.testing.assert_array_equal(out, block)
    block[:] = -1
    assert out[0] == 0  # not a view of the caller's (or PortAudio's) buffer
    assert len(resampler.flush()) == 0


def test_flush_starts_a_new_stream() -> None:
    resampler = StreamResampler(48000)
    tone = np.sin(np.arange(4800) * 0.05).astype(np.float32)
    first = np.concatenate([resampler.process(tone), resampler.flush()])
    second = np.concatenate([resampler.process(tone), resampler.flush()])
    assert len(first) == len(second) == 1600
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_empty_block() -> None:
    assert StreamResampler(44100, 2).process(np.zeros((0, 2), dtype=np.float32)).shape == (0,)


def test_wrong_shapes_and_rates() -> None:
    with pytest.raises(AudioError, match=r"shape \(n, 2\)"):
        StreamResampler(44100, channels=2).process(np.zeros(10, dtype=np.float32))
    with pytest.raises(AudioError, match=r"shape \(n, 1\)"):
        StreamResampler(44100).process(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(AudioError, match="positive"):
        StreamResampler(0)
    with pytest.raises(AudioError, match="channels"):
        StreamResampler(16000, channels=0)
