"""Where prepared models live, and how files get there safely.

The cache is ``$LIVEWHISPER_HOME`` if set, else ``~/.cache/livewhisper``. Files appear
atomically (written beside their final name, then renamed), so an interrupted conversion
or download never leaves a half-written model under a real name; a lock file keeps two
processes from preparing the same model at once.

Example::

    with atomic_output(cache_dir() / "ggml-tiny.en.bin") as f:
        f.write(data)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

ENV_HOME = "LIVEWHISPER_HOME"


def cache_dir() -> Path:
    """The model cache directory, created if missing."""
    root = os.environ.get(ENV_HOME)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "livewhisper"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success it replaces ``path``, else vanishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a model is not a secret
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path.lock`` for the duration of the block."""
    lock_path = path.with_name(f".{path.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
