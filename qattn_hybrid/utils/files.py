"""Files: atomic writes (nothing half-written ever sits under a final name), and safe reads
of saved models and checkpoints (JSON, safetensors, SHA-256), whose failures are
:class:`CheckpointError` naming the file. Light: torch and safetensors are imported only when
a safetensors file is read.

Files and folders get the modes an ordinary ``open`` / ``mkdir`` would give them under the
process umask (0644 / 0755 with the usual umask 022), not the 0600 / 0700 of ``tempfile``'s
private temporaries: runs on a shared filesystem stay readable by the group a user chose.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["CheckpointError", "atomic_directory", "atomic_file", "atomic_write_text",
           "current_umask", "read_json", "read_safetensors", "recover_directory",
           "resolve_model_dir", "sha256_file"]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` when the block succeeds
    and is deleted when it fails. ``suffix`` keeps writers that look at extensions happy."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        if Path(tmp).exists():  # a writer may have replaced the file: set the mode last
            os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path``, fsync, then ``os.replace``."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def atomic_directory(path: str | os.PathLike):
    """Yield a temporary folder; on success it replaces ``path`` (old contents removed).

    On error the temporary folder is deleted and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".tmp-{path.name}-"))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())
        yield tmp
        _finish_tree(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".old-{path.name}-"))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recover_directory(path: str | os.PathLike) -> bool:
    """Put back the previous version of ``path`` when a process died between the two renames
    of :func:`atomic_directory` (old moved aside, new not yet in place); True if it did."""
    path = Path(path)
    if path.exists() or not path.parent.is_dir():
        return False
    for old in sorted(path.parent.glob(f".old-{path.name}-*/{path.name}")):
        os.replace(old, path)
        shutil.rmtree(old.parent, ignore_errors=True)
        return True
    return False


def _finish_tree(root: Path) -> None:
    """fsync every file; give files and folders the umask's modes (some writers, such as
    safetensors, create 0600 files whatever the umask)."""
    umask = current_umask()
    for p in root.rglob("*"):
        if p.is_symlink():
            continue
        if p.is_file():
            os.chmod(p, 0o666 & ~umask)
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        elif p.is_dir():
            os.chmod(p, 0o777 & ~umask)


# --------------------------------------------------------------------------- safe reads
class CheckpointError(ValueError):
    """A saved model or checkpoint that is missing, corrupt, truncated or inconsistent."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_json(path: Path, what: str = "file") -> dict:
    """A JSON object from ``path``; CheckpointError when missing, truncated or not JSON."""
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{what} {path} is corrupt or truncated: {err}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} {path} must hold a JSON object; got {type(data).__name__}")
    return data


def read_safetensors(path: Path, device="cpu") -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file; CheckpointError when missing, truncated or corrupt."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        return load_file(str(path), device=str(device))
    except Exception as err:  # SafetensorError, OSError: header, size or dtype problems
        raise CheckpointError(f"weights file {path} is corrupt or truncated: {err}") from None


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A model folder from a model, run or checkpoint folder."""
    path = Path(path)
    for candidate in (path, path / "best", path / "model"):
        if (candidate / "config.json").is_file() and (candidate / "model.safetensors").exists():
            return candidate
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    raise FileNotFoundError(f"checkpoint {path} holds no saved model (config.json + "
                            "model.safetensors, directly or in best/ or model/)")
