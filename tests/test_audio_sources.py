"""FileSource, ArraySource and PushSource: pacing, completeness, errors and shutdown."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile
import soxr
from audio_fixtures import best_ncc, fixture_jfk_audio, fixture_jfk_path  # noqa: F401
from conftest import deadline, wait_until

from livewhisper.audio import (
    SAMPLE_RATE,
    ArraySource,
    AudioSource,
    FileSource,
    Microphone,
    PushSource,
)
from livewhisper.errors import AudioError, ClosedError, ConfigError


@pytest.fixture(name="short_clip")
def fixture_short_clip(tmp_path: Path, jfk_audio: npt.NDArray[np.float32]) -> Path:
    """The first 1.5 s of the JFK clip as a 44.1 kHz stereo FLAC."""
    part = soxr.resample(jfk_audio[: int(1.5 * SAMPLE_RATE)], SAMPLE_RATE, 44100)
    path = tmp_path / "short.flac"
    soundfile.write(path, np.stack([part, part], axis=1), 44100)
    return path


def _drain(source: AudioSource, timeout: float = 1.0) -> tuple[np.ndarray, list[int]]:
    sizes = []
    blocks = []
    while (block := source.read(timeout)) is not None:
        assert block.dtype == np.float32 and block.ndim == 1
        sizes.append(len(block))
        if block.size:
            blocks.append(block)
    return np.concatenate(blocks), sizes


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_file_source_realtime_pacing(short_clip: Path, speed: float) -> None:
    # Never early: each sample comes no sooner than it would be heard at ``speed`` x real
    # time after the source opened (however late a loaded machine runs the reader).
    opened = time.monotonic()
    delivered, early = 0, []
    with FileSource(short_clip, realtime=True, speed=speed) as source:
        while (block := source.read(timeout=1.0)) is not None:
            delivered += len(block)
            due = delivered / SAMPLE_RATE / speed
            if time.monotonic() - opened < due:
                early.append((delivered, due))
    assert delivered == int(1.5 * SAMPLE_RATE)
    assert early == []


def test_file_source_realtime_returns_everything_due_to_a_slow_reader(short_clip: Path) -> None:
    opened = time.monotonic()
    with FileSource(short_clip, block_seconds=0.02) as source:
        time.sleep(0.5)  # the slow reader
        block = source.read(timeout=0)
        waited = time.monotonic() - opened
        assert block is not None
        # All that is due at once, in whole 20 ms blocks: at least the 0.5 s slept, and
        # no more than the time since the source opened.
        assert 0.5 * SAMPLE_RATE - 320 <= len(block) <= waited * SAMPLE_RATE
        assert len(block) % 320 == 0


def test_file_source_read_timeout_returns_empty(short_clip: Path) -> None:
    with FileSource(short_clip, block_seconds=0.5) as source:
        start = time.monotonic()
        block = source.read(timeout=0.1)  # the first block is due at 0.5 s
        # Empty: it gave up at its timeout rather than wait for the block.
        assert block is not None and block.size == 0
        assert time.monotonic() - start >= 0.09


def test_file_source_fast_mode(
    short_clip: Path,
    jfk_path: Path,
    jfk_audio: npt.NDArray[np.float32],
) -> None:
    with FileSource(jfk_path, realtime=False, block_seconds=0.02) as source:
        audio, sizes = _drain(source, timeout=0)  # no read may wait for its block
    np.testing.assert_array_equal(audio, jfk_audio)
    assert set(sizes) == {320}  # 11 s is a whole number of 20 ms blocks

    with FileSource(short_clip, realtime=False) as source:
        audio, _ = _drain(source)
    ncc, _ = best_ncc(jfk_audio[: len(audio)], audio, max_lag=100)
    assert ncc > 0.99  # resampled from 44.1 kHz stereo


def test_close_interrupts_a_paced_read(short_clip: Path) -> None:
    source = FileSource(short_clip, speed=0.01, block_seconds=0.5).open()  # due in 50 s
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(source.read(timeout=20.0)))
    reader.start()
    # Really waiting for its block (CPython's Event keeps a lock per waiter).
    wait_until(lambda: source._stop._cond._waiters, 10, "the read to wait")  # type: ignore[attr-defined]
    source.close()
    reader.join(timeout=deadline(30))
    assert not reader.is_alive()
    assert result == [None]  # cut short by the close: its timeout would give an empty block


def test_file_source_errors(tmp_path: Path) -> None:
    source = FileSource(tmp_path / "missing.wav")
    assert source.name == "file missing.wav"
    with pytest.raises(AudioError, match="not found"):
        source.open()
    with pytest.raises(ConfigError):
        FileSource(tmp_path / "x.wav", speed=0)
    with pytest.raises(ConfigError):
        FileSource(tmp_path / "x.wav", block_seconds=-1)


def test_lifecycle(short_clip: Path) -> None:
    source = FileSource(short_clip, realtime=False)
    with pytest.raises(AudioError, match="not open"):
        source.read(timeout=0)
    with source:
        assert source.open() is source  # opening twice is harmless
        assert source.read(timeout=0) is not None
    assert source.closed
    assert source.read(timeout=0) is None
    source.close()  # idempotent
    with pytest.raises(ClosedError, match="closed"):
        source.open()


@pytest.mark.parametrize("kind", ["file", "array", "push", "microphone"])
@pytest.mark.parametrize("opened", [True, False], ids=["opened", "never-opened"])
def test_a_closed_source_refuses_use(short_clip: Path, kind: str, opened: bool) -> None:
    if kind == "microphone" and opened:
        pytest.skip("an opened microphone needs a device: tests/test_audio_mic.py")
    source = {
        "file": lambda: FileSource(short_clip),
        "array": lambda: ArraySource(np.zeros(SAMPLE_RATE, dtype=np.float32)),
        "push": lambda: PushSource(),
        "microphone": lambda: Microphone(),
    }[kind]()
    if opened:
        source.open()
    source.close()
    assert source.read(timeout=0) is None  # to a reader, a close is the end of the stream
    assert list(source) == []
    with pytest.raises(ClosedError, match="is closed"):
        source.open()
    if isinstance(source, PushSource):
        with pytest.raises(ClosedError, match="is closed"):
            source.feed(np.zeros(10, dtype=np.float32))
        source.finish()  # ending an ended stream is harmless


def test_array_source_iterates_in_blocks() -> None:
    samples = np.arange(1000, dtype=np.int16)
    with ArraySource(samples, block_seconds=0.01) as source:
        blocks = list(source)
    assert [len(b) for b in blocks] == [160] * 6 + [40]
    np.testing.assert_allclose(np.concatenate(blocks), samples / 32768)


def test_array_source_realtime_speed() -> None:
    opened = time.monotonic()
    with ArraySource(np.zeros(SAMPLE_RATE, dtype=np.float32), realtime=True, speed=4.0) as src:
        total = sum(len(b) for b in src)
        elapsed = time.monotonic() - opened
    assert total == SAMPLE_RATE
    assert elapsed >= 0.25  # 1 s at 4x: the last block is not served before it is due


# PushSource --------------------------------------------------------------------------------


def test_push_source_44k_in_blocks(jfk_audio: npt.NDArray[np.float32]) -> None:
    pcm44 = soxr.resample(jfk_audio, SAMPLE_RATE, 44100)
    pcm44 = np.round(pcm44 * 32767).astype(np.int16)  # what a browser or socket sends
    source = PushSource(sample_rate=44100).open()
    assert source.name == "push (44100 Hz)"
    received: list[np.ndarray] = []
    reader = threading.Thread(target=lambda: received.extend(source))
    reader.start()
    queued = 0
    for start in range(0, len(pcm44), 441):  # 10 ms blocks
        queued += source.feed(pcm44[start : start + 441])
    source.finish()
    reader.join(timeout=deadline(10))
    assert not reader.is_alive()
    audio = np.concatenate(received)
    assert abs(len(audio) - len(jfk_audio)) <= 2
    assert 0 < len(audio) - queued < 1000  # finish() queued the resampler's tail
    ncc, lag = best_ncc(jfk_audio, audio, max_lag=800)
    print(f"push 44.1 kHz int16: NCC {ncc:.5f} at lag {lag}")
    assert ncc > 0.99 and abs(lag) <= 2
    assert source.overflow_samples == 0
    source.close()


def test_push_source_rate_per_call_and_stereo() -> None:
    source = PushSource().open()
    source.feed(np.ones((1600, 2), dtype=np.float32))
    source.feed(np.ones(4800, dtype=np.float32), sample_rate=48000)
    source.finish()
    audio, _ = _drain(source, timeout=0)
    assert abs(len(audio) - 3200) <= 2
    np.testing.assert_allclose(audio[:1600], 1.0)


def test_push_source_errors() -> None:
    source = PushSource()
    with pytest.raises(AudioError, match="NaN"):
        source.feed(np.array([0.0, np.nan]))
    with pytest.raises(AudioError, match="3-d"):
        source.feed(np.zeros((2, 2, 2)))
    with pytest.raises(AudioError, match="positive"):
        source.feed(np.zeros(10), sample_rate=0)
    with pytest.raises(AudioError, match="positive"):
        PushSource(sample_rate=-1)
    source.finish()
    with pytest.raises(AudioError, match="after finish"):
        source.feed(np.zeros(10))


def test_push_source_overflow_is_counted() -> None:
    source = PushSource(buffer_seconds=0.1).open()  # 1600 samples
    assert source.feed(np.zeros(1000, dtype=np.float32)) == 1000
    assert source.feed(np.zeros(1000, dtype=np.float32)) == 600
    assert source.overflow_samples == 400


def test_push_source_read_timeout_and_close_from_another_thread() -> None:
    source = PushSource().open()
    block = source.read(timeout=0.05)
    assert block is not None and block.size == 0
    threading.Timer(0.1, source.close).start()
    # None, not an empty block: woken by the close, not by its timeout.
    assert source.read(timeout=deadline(60)) is None
    with pytest.raises(ClosedError):
        source.feed(np.zeros(10))


def _ramp(seconds: float) -> npt.NDArray[np.float32]:
    """Audio whose every sample says where it is: sample i holds i / len."""
    n = int(seconds * SAMPLE_RATE)
    return (np.arange(n, dtype=np.float64) / n).astype(np.float32)


def _read_for(source: AudioSource, n: int) -> npt.NDArray[np.float32]:
    blocks: list[npt.NDArray[np.float32]] = []
    while sum(map(len, blocks)) < n:
        block = source.read(deadline(5))
        assert block is not None
        blocks.append(block)
    return np.concatenate(blocks)


def test_a_realtime_source_paused_loses_what_played_meanwhile() -> None:
    audio = _ramp(6.0)
    with ArraySource(audio, realtime=True) as source:
        before = _read_for(source, SAMPLE_RATE // 5)
        source.pause()
        paused_at = time.monotonic()
        # What was due before the pause is still read; then nothing, however long.
        rest = source.read(0.0)
        assert rest is not None
        heard = len(before) + len(rest)
        assert source.read(0.3) is not None and source.read(0.0).size == 0  # type: ignore[union-attr]
        assert source.paused
        source.resume()
        gap = time.monotonic() - paused_at
        after = _read_for(source, 1)
    # The first sample after the pause is at least the pause's length further on.
    skipped = round(float(after[0]) * len(audio)) - heard
    assert skipped >= int((gap - 0.05) * SAMPLE_RATE), (skipped, gap)
    assert np.array_equal(before, audio[: len(before)])


def test_a_source_without_a_clock_paused_loses_nothing() -> None:
    audio = _ramp(1.0)
    with ArraySource(audio, realtime=False) as source:
        first = source.read(0.0)
        source.pause()
        assert source.read(0.05).size == 0  # type: ignore[union-attr]
        source.resume()
        rest, _ = _drain(source)
    assert first is not None
    assert np.array_equal(np.concatenate([first, rest]), audio)


def test_a_paused_push_source_drops_what_is_fed() -> None:
    source = PushSource().open()
    source.feed(np.full(1600, 0.1, np.float32))
    source.pause()
    assert source.feed(np.full(1600, 0.5, np.float32)) == 0
    assert source.pause() is None and source.paused  # pausing again does nothing
    source.resume()
    source.feed(np.full(800, 0.2, np.float32))
    source.finish()
    audio, _ = _drain(source)
    assert np.array_equal(
        audio, np.concatenate([np.full(1600, 0.1), np.full(800, 0.2)]).astype(np.float32)
    )
    assert source.overflow_samples == 0
