"""Files as users have them: damaged headers, cut-off recordings, implausible headers,
names of any bytes, a language switch inside a file, long files in flat memory, and the
same text through every entry point.

Every damaged or odd file is made here from the test clips.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import DATA, EN, REPO, deadline, reference
from server_fixtures import MODEL, fixture_server_pool, running_server  # noqa: F401
from test_cli import CLI, ok, run

from livewhisper.audio.decode import SAMPLE_RATE, load_audio, wav_data_size
from livewhisper.engine import DecodeOptions, Engine
from livewhisper.errors import AudioError
from livewhisper.filetranscribe import transcribe_file
from livewhisper.server import ModelPool
from livewhisper.wer import word_error_rate

CLIP = "jfk"  # 11.0 s


def _ffmpeg(*args: str | Path) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (it only makes the test files)")
    command = ["ffmpeg", "-v", "error", "-y", *map(str, args)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=deadline(300), check=False
    )
    assert result.returncode == 0, result.stderr


def _patched(source: Path, target: Path, offset: int, value: int, size: int = 4) -> Path:
    """``source`` with the little-endian field at ``offset`` set to ``value``."""
    data = bytearray(source.read_bytes())
    data[offset : offset + size] = value.to_bytes(size, "little")
    target.write_bytes(bytes(data))
    return target


def _data_size_field(wav: Path) -> int:
    found = wav_data_size(wav.read_bytes()[:4096])
    assert found is not None
    return found[1] - 4


# -- damaged and cut-off files: the audio that is there, with one warning --------------------


def test_a_damaged_wav_header_reads_what_the_file_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wav = EN / f"{CLIP}.wav"
    field = _data_size_field(wav)
    cut = tmp_path / "cut-mid-sample.wav"
    cut.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2 + 1])  # an odd byte count
    cases = {
        _patched(wav, tmp_path / "zero.wav", field, 0): (11.0, "gives no length"),
        _patched(wav, tmp_path / "unknown.wav", field, 0xFFFFFFFF): (11.0, "gives no length"),
        _patched(wav, tmp_path / "riff-zero.wav", 4, 0): (11.0, None),
        cut: (5.5, "ends after 5.5 s of the 11.0 s"),
    }
    # A crashed recorder leaves both sizes at 0.
    _patched(tmp_path / "zero.wav", tmp_path / "both-zero.wav", 4, 0)
    cases[tmp_path / "both-zero.wav"] = (11.0, "gives no length")
    for path, (seconds, says) in cases.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="livewhisper"):
            audio = load_audio(path)
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        print(path.name, len(audio) / SAMPLE_RATE, warnings)
        assert len(audio) / SAMPLE_RATE == pytest.approx(seconds, abs=0.01)
        if says is not None:
            assert len(warnings) == 1 and path.name in warnings[0] and says in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="livewhisper"):
        load_audio(wav)
    assert not caplog.records  # an intact file says nothing


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("flac.flac", ()),
        ("mp3.mp3", ("-c:a", "libmp3lame")),
        ("aac.m4a", ("-c:a", "aac", "-movflags", "+faststart")),
        ("opus.webm", ("-c:a", "libopus")),
    ],
)
def test_a_cut_off_compressed_file_keeps_what_decodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, options: tuple[str, ...]
) -> None:
    whole = tmp_path / name
    _ffmpeg("-i", EN / f"{CLIP}.wav", *options, whole)
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="livewhisper"):
        audio = load_audio(cut)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    print(name, f"{len(audio) / SAMPLE_RATE:.2f} s", warnings)
    assert 4.0 < len(audio) / SAMPLE_RATE < 7.0
    assert len(warnings) == 1 and cut.name in warnings[0] and "11.0 s" in warnings[0]


def test_implausible_headers_are_one_line_naming_the_file(tmp_path: Path) -> None:
    wav = EN / f"{CLIP}.wav"
    # fmt chunk of a canonical header: channels at 22, rate at 24, byte rate at 28.
    cases = {
        _patched(wav, tmp_path / "four-hertz.wav", 24, 4): "sample rate of 4 Hz",
        _patched(wav, tmp_path / "no-channels.wav", 22, 0, 2): "0 channels",
        _patched(wav, tmp_path / "many-channels.wav", 22, 300, 2): "300 channels",
        _patched(wav, tmp_path / "huge-rate.wav", 24, 2**31 - 1): "2147483647 Hz",
    }
    for path, says in cases.items():
        with pytest.raises(AudioError) as caught:
            load_audio(path)
        message = str(caught.value)
        print(message)
        assert message.startswith(str(path)) and says in message and "\n" not in message
    result = run("transcribe", *cases, "--model", MODEL, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(cases), result.stderr
    for line, (path, says) in zip(errors, cases.items(), strict=True):
        assert line.startswith(f"livewhisper: error: {path}") and says in line


def test_the_endpoint_refuses_an_implausible_header(server_pool: ModelPool, tmp_path: Path) -> None:
    openai = pytest.importorskip("openai")
    wav = _patched(EN / f"{CLIP}.wav", tmp_path / "four-hertz.wav", 24, 4)
    with running_server(server_pool) as server:
        client = openai.OpenAI(base_url=server.api_url, api_key="-", max_retries=0, timeout=60)
        with pytest.raises(openai.BadRequestError) as caught, wav.open("rb") as file:
            client.audio.transcriptions.create(model=MODEL, file=file)
    error = caught.value.response.json()["error"]
    print(error)
    assert "four-hertz.wav" in error["message"] and "4 Hz" in error["message"]


# -- names of any bytes ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_batch_of_odd_names_is_transcribed_whole(tmp_path: Path) -> None:
    """Latin-1 bytes (not UTF-8), a newline and an emoji, and a damaged header: every file
    is transcribed, its text written beside it, and every message stays on its line."""
    folder = os.fsencode(tmp_path)
    wav = EN / f"{CLIP}.wav"
    names = [b"caf\xe9 latin-1.wav", "line\nbreak 🎤.wav".encode(), b"plain.wav"]
    for name in names:
        shutil.copyfile(wav, os.path.join(folder, name))
    # The last one as a crashed recorder leaves it: it warns, on one line.
    plain = Path(os.fsdecode(os.path.join(folder, names[2])))
    _patched(plain, plain, _data_size_field(plain), 0)
    paths = [os.path.join(folder, name) for name in names]
    command = [*map(os.fsencode, CLI), b"transcribe", *paths, b"--model", MODEL.encode()]
    result = subprocess.run(
        [*command, b"--output-dir", folder],
        capture_output=True,
        timeout=deadline(300),
        check=False,
        cwd=REPO,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    print(stderr)
    assert result.returncode == 0 and "Traceback" not in stderr, stderr
    for name in names:
        text = Path(os.fsdecode(os.path.join(folder, name[:-4] + b".txt"))).read_text()
        assert word_error_rate(reference(CLIP), text) < 0.2, (name, text)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "plain.wav" in lines[0]
    # A name with a newline and bytes that are not UTF-8, printed back on one line.
    missing = [os.path.join(folder, b"gone\n\xe9.wav")]
    refused = subprocess.run(
        [*map(os.fsencode, CLI), b"transcribe", *missing, b"--model", MODEL.encode()],
        capture_output=True,
        timeout=deadline(120),
        check=False,
    )
    message = refused.stderr.decode()  # printable: nothing that is not UTF-8
    assert refused.returncode == 1 and message.count("\n") == 1, message
    assert "gone\\n\\xe9.wav" in message


# -- a file that changes language ------------------------------------------------------------


@pytest.mark.slow
def test_each_utterance_keeps_its_language(base_engine: Engine) -> None:
    """English, then Spanish, then English in one recording, no language given: each part
    comes out in its own language, none translated."""
    english = load_audio(EN / f"{CLIP}.wav")
    spanish = load_audio(DATA / "es" / "asterisk_ss_noservice.flac")
    pause = np.zeros(2 * SAMPLE_RATE, np.float32)
    audio = np.concatenate([english, pause, spanish, pause, english])
    result = transcribe_file(audio, base_engine, DecodeOptions())
    spans = {
        "english": (0.0, 11.0),
        "spanish": (13.0, 13.0 + len(spanish) / SAMPLE_RATE),
        "again": (15.0 + len(spanish) / SAMPLE_RATE, len(audio) / SAMPLE_RATE),
    }
    texts = {
        part: " ".join(s.text for s in result.segments if start - 0.5 <= s.start < end)
        for part, (start, end) in spans.items()
    }
    print(result.language, texts)
    assert word_error_rate(reference(CLIP), texts["english"]) < 0.2
    assert word_error_rate(reference(CLIP), texts["again"]) < 0.2
    said = (DATA / "es" / "asterisk_ss_noservice.txt").read_text(encoding="utf-8")
    assert word_error_rate(said, texts["spanish"]) < 0.4, texts["spanish"]
    assert result.language == "en"  # most of the speech


# -- memory that does not grow with the file ----------------------------------------------------

_PEAK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from livewhisper.audio.decode import decode_audio
    from livewhisper.filetranscribe import split_blocks
    utterances = sum(1 for _ in split_blocks(decode_audio(sys.argv[1])))
    peak = next(line for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    print(utterances, int(peak.split()[1]) // 1024)
    """
)


def _peak_mb(path: Path) -> tuple[int, int]:
    """(utterances cut, peak RSS in MB) of decoding and cutting ``path`` in a fresh
    process: the file pipeline of ``transcribe`` up to Whisper."""
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        capture_output=True,
        text=True,
        timeout=deadline(600),
        check=True,
    )
    utterances, peak = map(int, result.stdout.split())
    return utterances, peak


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM (Linux)")
def test_a_long_file_is_cut_in_the_memory_of_a_short_one(tmp_path: Path) -> None:
    """48 kHz stereo mp3 of the long clip looped: 6 minutes peak within 1.2x of 1 minute
    (about 70 MB; whole, 6 minutes would hold 23 MB more at 16 kHz mono, 138 MB as
    decoded). benchmarks/memory.py measures the command itself, up to an hour."""
    long_clip = DATA / "long" / "voxconverse_aepyx_169s.flac"
    peaks = {}
    for minutes in (1, 6):
        path = tmp_path / f"{minutes}min.mp3"
        _ffmpeg("-stream_loop", "-1", "-i", long_clip, "-t", str(60 * minutes),
                "-ar", "48000", "-ac", "2", "-b:a", "64k", path)  # fmt: skip
        peaks[minutes] = _peak_mb(path)
    print({f"{m} min": f"{u} utterances, peak RSS {p} MB" for m, (u, p) in peaks.items()})
    assert peaks[6][0] > 3 * peaks[1][0]  # the whole file was cut, not its start
    assert peaks[6][1] <= 1.2 * peaks[1][1]


# -- the same text through every entry point ----------------------------------------------------


@pytest.mark.slow
def test_the_same_text_through_every_entry_point(
    server_pool: ModelPool, tmp_path: Path, model_cache: Path
) -> None:
    """One recording through ``livewhisper transcribe``, ``transcribe_file`` and the
    OpenAI endpoint, at the server's thread count: word for word the same."""
    openai = pytest.importorskip("openai")
    names = ["jfk", "ps_0870", "libri_61-70968-0000", "ps_0880"]
    pause = np.zeros(SAMPLE_RATE * 3 // 2, np.float32)
    audio = np.concatenate([x for n in names for x in (load_audio(EN / f"{n}.wav"), pause)])
    path = tmp_path / "joined.flac"
    soundfile.write(path, audio, SAMPLE_RATE)
    threads = server_pool.threads
    texts = {}
    result = ok(run("transcribe", path, "--model", MODEL, "--threads", str(threads), "-f",
                    "json", "-o", tmp_path / "cli.json", timeout=600))  # fmt: skip
    import json

    cli = json.loads((tmp_path / "cli.json").read_text())
    texts["cli"] = [s["text"] for s in cli["segments"]]
    assert not result.stdout
    with Engine(MODEL, threads=threads) as engine:
        texts["api"] = [s.text for s in transcribe_file(path, engine).segments]
    with running_server(server_pool) as server:
        client = openai.OpenAI(base_url=server.api_url, api_key="-", max_retries=0, timeout=600)
        with path.open("rb") as file:
            reply = client.audio.transcriptions.create(
                model=MODEL, file=file, response_format="verbose_json"
            )
    texts["server"] = [s.text for s in reply.segments or []]
    for name, segments in texts.items():
        print(name, len(segments), segments)
    stripped = {name: [t.strip() for t in segments] for name, segments in texts.items()}
    assert len(stripped["cli"]) >= 4
    assert stripped["api"] == stripped["cli"] and stripped["server"] == stripped["cli"]


def test_wav_data_size_reads_the_data_chunk() -> None:
    head = (EN / f"{CLIP}.wav").read_bytes()[:4096]
    declared, start, byte_rate = wav_data_size(head) or (0, 0, 0)
    assert (declared, byte_rate) == (11 * 32000, 32000) and head[start - 8 : start - 4] == b"data"
    assert wav_data_size(b"OggS" + bytes(60)) is None
    assert wav_data_size(struct.pack("<4sI4s", b"RIFF", 0, b"WAVE")) is None
