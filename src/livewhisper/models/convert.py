"""CTranslate2 (faster-whisper) Whisper weights to a whisper.cpp model file, in numpy.

CTranslate2 fuses projections that whisper.cpp keeps apart: the self-attention
``linear_0`` stacks query, key and value; the cross-attention ``linear_1`` stacks key and
value. Whisper's key projections have no bias (CTranslate2 stores a zero one), so it is
dropped. The released weights are f16, so an f16 file is a lossless copy; other
precisions are quantized while writing.

Example::

    convert_ct2(CT2Files.from_dir(Path("faster-whisper-tiny.en")), Path("tiny.bin"), "q8_0")
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livewhisper.errors import ModelFormatError
from livewhisper.models.cache import atomic_output
from livewhisper.models.ct2 import CT2Model, read_ct2
from livewhisper.models.ggml import HParams, expected_shapes, read_ggml, write_ggml
from livewhisper.models.mel import mel_filters
from livewhisper.models.quantize import FTYPE


@dataclass(frozen=True)
class CT2Files:
    """The files of a CTranslate2 Whisper model: ``model.bin`` (maybe split) and tokenizer."""

    model_parts: tuple[Path, ...]
    tokenizer: Path

    @classmethod
    def from_dir(cls, directory: Path) -> CT2Files:
        """Find ``model.bin`` (or ``model.bin.part*``) and ``tokenizer.json`` in ``directory``."""
        single = directory / "model.bin"
        parts = (single,) if single.is_file() else tuple(sorted(directory.glob("model.bin.part*")))
        tokenizer = directory / "tokenizer.json"
        if not parts or not tokenizer.is_file():
            raise ModelFormatError(
                f"{directory} is not a CTranslate2 Whisper model: it needs model.bin and "
                "tokenizer.json (as faster-whisper models have)"
            )
        return cls(parts, tokenizer)


def _bytes_of_unicode() -> dict[str, int]:
    """Byte-level BPE's alphabet: the printable character standing for each byte value."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table = {chr(b): b for b in printable}
    spare = 256
    for b in range(256):
        if b not in printable:
            table[chr(spare)] = b
            spare += 1
    return table


def read_vocab(tokenizer_json: Path) -> list[bytes]:
    """The ordinary (non-special) tokens of a Whisper ``tokenizer.json``, as raw bytes, by id."""
    try:
        spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        vocab: dict[str, int] = spec["model"]["vocab"]
        special = {t["id"] for t in spec.get("added_tokens", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFormatError(f"{tokenizer_json} is not a usable tokenizer.json: {exc}") from exc
    table = _bytes_of_unicode()
    ordinary = sorted((i, t) for t, i in vocab.items() if i not in special)
    if [i for i, _ in ordinary] != list(range(len(ordinary))):
        raise ModelFormatError(f"{tokenizer_json}: the ordinary token ids are not contiguous")
    try:
        return [bytes(table[ch] for ch in token) for _, token in ordinary]
    except KeyError as exc:
        raise ModelFormatError(f"{tokenizer_json}: not a byte-level BPE vocabulary") from exc


def hparams_of(model: CT2Model, ftype: int) -> HParams:
    """whisper.cpp hyper-parameters read off a CTranslate2 Whisper model."""
    v = model.variables
    n_audio_layer = sum(
        1 for k in v if k.startswith("encoder/layer_") and k.endswith("ffn/linear_0/weight")
    )
    n_text_layer = sum(
        1 for k in v if k.startswith("decoder/layer_") and k.endswith("ffn/linear_0/weight")
    )
    audio_pos = model.get("encoder/position_encodings/encodings")
    text_pos = model.get("decoder/position_encodings/encodings")
    return HParams(
        n_vocab=model.get("decoder/embeddings/weight").shape[0],
        n_audio_ctx=audio_pos.shape[0],
        n_audio_state=audio_pos.shape[1],
        n_audio_head=model.scalar("encoder/num_heads"),
        n_audio_layer=n_audio_layer,
        n_text_ctx=text_pos.shape[0],
        n_text_state=text_pos.shape[1],
        n_text_head=model.scalar("decoder/num_heads"),
        n_text_layer=n_text_layer,
        n_mels=model.get("encoder/conv1/weight").shape[1],
        ftype=ftype,
    )


def _split(x: np.ndarray, parts: int) -> list[np.ndarray]:
    return list(np.split(x, parts, axis=0))


def _attention(model: CT2Model, src: str, dst: str, fused: str) -> Iterator[tuple[str, np.ndarray]]:
    """Yield whisper.cpp tensors of one attention block, unfusing CTranslate2's projections."""
    g = model.get
    yield f"{dst}_ln.weight", g(f"{src}/layer_norm/gamma")
    yield f"{dst}_ln.bias", g(f"{src}/layer_norm/beta")
    if fused == "qkv":
        q, k, v = _split(g(f"{src}/linear_0/weight"), 3)
        qb, _, vb = _split(g(f"{src}/linear_0/bias"), 3)
        out = "linear_1"
    else:  # cross-attention: query alone, then key and value stacked
        q, qb = g(f"{src}/linear_0/weight"), g(f"{src}/linear_0/bias")
        k, v = _split(g(f"{src}/linear_1/weight"), 2)
        _, vb = _split(g(f"{src}/linear_1/bias"), 2)
        out = "linear_2"
    yield f"{dst}.query.weight", q
    yield f"{dst}.query.bias", qb
    yield f"{dst}.key.weight", k
    yield f"{dst}.value.weight", v
    yield f"{dst}.value.bias", vb
    yield f"{dst}.out.weight", g(f"{src}/{out}/weight")
    yield f"{dst}.out.bias", g(f"{src}/{out}/bias")


def ggml_tensors(model: CT2Model, hp: HParams) -> Iterator[tuple[str, np.ndarray]]:
    """Every whisper.cpp tensor of ``model``, named and shaped as whisper.cpp expects."""
    g = model.get
    yield "encoder.positional_embedding", g("encoder/position_encodings/encodings")
    for conv in ("conv1", "conv2"):
        yield f"encoder.{conv}.weight", g(f"encoder/{conv}/weight")
        yield f"encoder.{conv}.bias", g(f"encoder/{conv}/bias").reshape(-1, 1)
    for part, n_layer in (("encoder", hp.n_audio_layer), ("decoder", hp.n_text_layer)):
        for i in range(n_layer):
            src, dst = f"{part}/layer_{i}", f"{part}.blocks.{i}"
            yield from _attention(model, f"{src}/self_attention", f"{dst}.attn", "qkv")
            if part == "decoder":
                yield from _attention(model, f"{src}/attention", f"{dst}.cross_attn", "kv")
            yield f"{dst}.mlp_ln.weight", g(f"{src}/ffn/layer_norm/gamma")
            yield f"{dst}.mlp_ln.bias", g(f"{src}/ffn/layer_norm/beta")
            yield f"{dst}.mlp.0.weight", g(f"{src}/ffn/linear_0/weight")
            yield f"{dst}.mlp.0.bias", g(f"{src}/ffn/linear_0/bias")
            yield f"{dst}.mlp.2.weight", g(f"{src}/ffn/linear_1/weight")
            yield f"{dst}.mlp.2.bias", g(f"{src}/ffn/linear_1/bias")
    yield "encoder.ln_post.weight", g("encoder/layer_norm/gamma")
    yield "encoder.ln_post.bias", g("encoder/layer_norm/beta")
    yield "decoder.token_embedding.weight", g("decoder/embeddings/weight")
    yield "decoder.positional_embedding", g("decoder/position_encodings/encodings")
    yield "decoder.ln.weight", g("decoder/layer_norm/gamma")
    yield "decoder.ln.bias", g("decoder/layer_norm/beta")


def convert_ct2(
    files: CT2Files, out: Path, precision: str = "f16", *, progress: bool = True
) -> Path:
    """Convert CTranslate2 Whisper weights to a whisper.cpp file at ``out`` (atomically)."""
    if precision not in FTYPE or precision == "f32":
        raise ValueError(
            f"unsupported precision {precision!r}: use one of f16, q8_0, q5_1, q5_0, q4_0"
        )
    model = read_ct2(files.model_parts)
    if model.spec != "WhisperSpec":
        raise ModelFormatError(f"{files.model_parts[0]} holds a {model.spec}, not a Whisper model")
    hp = hparams_of(model, FTYPE[precision])
    vocab = read_vocab(files.tokenizer)
    tensors = list(ggml_tensors(model, hp))
    expected = expected_shapes(hp)
    wrong = [n for n, t in tensors if expected.get(n) != t.shape]
    if wrong or len(tensors) != len(expected):
        raise ModelFormatError(f"{files.model_parts[0]}: unexpected tensor shapes ({wrong[:3]})")
    with atomic_output(out) as f:
        names = write_ggml(f, hp, mel_filters(hp.n_mels), vocab, tensors)
        bar = tqdm(
            names,
            total=len(tensors),
            desc=f"converting to {out.name}",
            unit="tensor",
            disable=not progress,
            leave=False,
        )
        for _ in bar:
            pass
    return out


def quantize_model(src: Path, out: Path, precision: str, *, progress: bool = True) -> Path:
    """Re-encode the f16/f32 whisper.cpp file ``src`` at ``precision`` into ``out`` (atomically)."""
    model = read_ggml(src)
    if model.precision not in ("f16", "f32"):
        raise ModelFormatError(
            f"{src} is already quantized ({model.precision}); quantize from an f16 model, "
            "quantizing twice loses accuracy"
        )
    if precision not in FTYPE:
        raise ValueError(f"unsupported precision {precision!r}: use one of {', '.join(FTYPE)}")
    hp = replace(model.hparams, ftype=FTYPE[precision])
    tensors = ((name, model.tensor(name)) for name in model.tensors)
    with atomic_output(out) as f:
        names = write_ggml(f, hp, model.mel_filters, model.vocab, tensors)
        for _ in tqdm(
            names,
            total=len(model.tensors),
            desc=f"quantizing to {out.name}",
            unit="tensor",
            disable=not progress,
            leave=False,
        ):
            pass
    return out
