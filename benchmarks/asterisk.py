"""Real Spanish speech in quantity: the Asterisk prompts of Debian's sound packages.

The repository keeps three Asterisk prompts (``tests/data/es``, 31 s, 65 words): enough
to test the Spanish path, too few to measure it, since one word is 1.5 WER points. This
module fetches the whole set of Mexican Spanish prompts (``es_MX_f_Allison``, one
professional voice, 16 kHz G.722, CC-BY-SA-3.0) with ``apt-get download`` of
:data:`AUDIO_PACKAGE` and :data:`TEXT_PACKAGE` (no root needed), decodes the prompts
chosen by :func:`chosen_prompts` to FLAC with PyAV, and returns them as
:class:`~benchmarks.harness.Clip`\\ s. Everything is kept in a cache folder, so only
the first run downloads (13 MB).

The package's prompt list (``core-sounds-es.txt``) leaves out most accents ("numero",
"contrasena"); compare texts with :func:`fold_accents` applied to both sides.

Example::

    prompts = asterisk_prompts(30)      # list[Clip], 16 kHz mono FLAC files
"""

from __future__ import annotations

import gzip
import re
import subprocess
import unicodedata
from pathlib import Path

from benchmarks.harness import Clip

AUDIO_PACKAGE = "asterisk-core-sounds-es-g722"
TEXT_PACKAGE = "asterisk-core-sounds-es"
VOICE = "usr/share/asterisk/sounds/es_MX_f_Allison"
TEXTS = "usr/share/doc/asterisk-core-sounds-es/core-sounds-es.txt.gz"
GROUP = "asterisk_es_mx_prompts"
MIN_WORDS = 8
"""Shortest prompt taken, in words: the short ones are single words and digits."""
MAX_SECONDS = 20.0
"""Longest prompt taken: the few longer ones are menus that read digits one by one."""
IN_REPOSITORY = frozenset({"ss-noservice", "tt-allbusy", "vm-intro"})
"""The prompts ``tests/data/es`` already holds (as ``asterisk_ss_noservice``...)."""
_LINE = re.compile(r"^([a-z0-9][\w-]*):\s*(.+)$")


def prompt_texts(listing: str) -> dict[str, str]:
    """``name -> text`` of a ``core-sounds-*.txt`` listing (``name: text`` lines; ``;``
    comments and blank lines skipped).

    >>> prompt_texts("; Core sounds\\n\\nvm-intro: Por favor deje su mensaje.\\n")
    {'vm-intro': 'Por favor deje su mensaje.'}
    """
    found = (_LINE.match(line.strip()) for line in listing.splitlines())
    return {m[1]: m[2].strip() for m in found if m}


def chosen_prompts(texts: dict[str, str], seconds: dict[str, float], count: int) -> list[str]:
    """``count`` prompt names spread evenly over the listing, in its order: those with an
    audio file (``seconds``: its duration) of at most :data:`MAX_SECONDS`, whose text has
    at least :data:`MIN_WORDS` words and neither digits nor bracketed sound descriptions
    (the recordings say digits as words, and "[tono simple]" is no speech), and that are
    not in :data:`IN_REPOSITORY`.

    >>> texts = {f"p{i}": "uno dos tres cuatro cinco seis siete ocho" for i in range(7)}
    >>> chosen_prompts(texts, {"p0": 4, "p1": 5, "p2": 6, "p3": 7, "p5": 8, "p6": 31}, 3)
    ['p0', 'p2', 'p5']
    """
    usable = [
        name
        for name, text in texts.items()
        if seconds.get(name, MAX_SECONDS + 1) <= MAX_SECONDS
        and name not in IN_REPOSITORY
        and len(text.split()) >= MIN_WORDS
        and not re.search(r"[\d\[\]]", text)
    ]
    if count >= len(usable):
        return usable
    step = (len(usable) - 1) / max(count - 1, 1)
    return [usable[round(i * step)] for i in range(count)]


def fold_accents(text: str) -> str:
    """``text`` without combining marks (accents, tildes, diaeresis): "Contraseña número"
    becomes "Contrasena numero", as the package's listing writes most words.

    >>> fold_accents("¿Qué número? Contraseña.")
    '¿Que numero? Contrasena.'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _unpacked(cache: Path, package: str) -> Path:
    """``package``'s files under ``cache/<package>/``, downloaded and unpacked once.
    Raises RuntimeError naming the fix when ``apt-get`` or ``dpkg-deb`` cannot do it."""
    target = cache / package
    if (target / ".done").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["apt-get", "download", package],
            cwd=target,
            check=True,
            capture_output=True,
        )
        (deb,) = target.glob(f"{package}_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    except (OSError, subprocess.CalledProcessError, ValueError) as error:
        raise RuntimeError(
            f"could not fetch Debian's {package} ({error}); on Debian or Ubuntu run "
            "apt-get update first, elsewhere leave out the Asterisk prompts"
        ) from None
    (target / ".done").touch()
    return target


def _decoded(source: Path, target: Path) -> None:
    """Decode the raw G.722 file ``source`` to 16 kHz mono 16-bit FLAC ``target``."""
    import av
    import numpy as np
    import soundfile

    with av.open(str(source), format="g722") as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    samples = np.concatenate(frames)
    if samples.dtype.kind == "f":
        samples = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    soundfile.write(target, samples, rate, subtype="PCM_16")


def asterisk_prompts(count: int, cache: Path | None = None) -> list[Clip]:
    """``count`` Spanish prompts (:func:`chosen_prompts`) as clips with their listed texts,
    decoded into ``cache`` (default ``<livewhisper cache>/benchmarks/asterisk-es``).

    Raises RuntimeError when the packages cannot be downloaded (no Debian archive)."""
    from livewhisper.models.cache import cache_dir

    cache = cache or cache_dir() / "benchmarks" / "asterisk-es"
    audio_root = _unpacked(cache, AUDIO_PACKAGE) / VOICE
    with gzip.open(_unpacked(cache, TEXT_PACKAGE) / TEXTS, "rt", encoding="utf-8") as f:
        texts = prompt_texts(f.read())
    # G.722 is 64 kbit/s: 8000 bytes a second.
    seconds = {p.stem: p.stat().st_size / 8000 for p in audio_root.glob("*.g722")}
    clips = []
    for name in chosen_prompts(texts, seconds, count):
        flac = cache / "flac" / f"{name}.flac"
        if not flac.exists():
            flac.parent.mkdir(parents=True, exist_ok=True)
            _decoded(audio_root / f"{name}.g722", flac)
        clip_id = "asterisk_" + name.replace("-", "_")
        clips.append(Clip(clip_id, GROUP, flac, texts[name], seconds[name]))
    return clips
