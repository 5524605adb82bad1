"""Integrity of saved model folders: a manifest of SHA-256 digests, and finite weights.

Every folder :meth:`MultiTaskModel.save_pretrained` writes carries ``manifest.json``::

    {"format": "qattn_hybrid.utils.manifest", "version": 1, "algorithm": "sha256",
     "files": {"config.json": "<hex>", "model.safetensors": "<hex>", "tokenizer/vocab.txt": ...}}

Loading (``from_pretrained``, and so ``qattn eval`` / ``predict`` / ``serve``) checks every
listed file against its digest and refuses non-finite weights, with an error naming the file.
A folder without a manifest is refused too: nothing says its files are the ones written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from qattn_hybrid.utils.files import CheckpointError, sha256_file  # re-exported (older callers)

__all__ = ["MANIFEST_NAME", "CheckpointError", "check_finite", "sha256_file", "verify_manifest",
           "write_manifest"]

MANIFEST_NAME = "manifest.json"
_FORMAT = "qattn_hybrid.utils.manifest"


def write_manifest(folder: str | os.PathLike) -> Path:
    """Record the SHA-256 of every file under ``folder`` (the manifest itself excluded)."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    manifest = {"format": _FORMAT, "version": 1, "algorithm": "sha256",
                "files": {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}}
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def verify_manifest(folder: str | os.PathLike) -> None:
    """Every file the manifest lists exists and has its recorded SHA-256; else CheckpointError."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise CheckpointError(f"model folder {folder} has no {MANIFEST_NAME}, so its files "
                              "cannot be verified; save it again with save_pretrained")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("format") != _FORMAT or not isinstance(files, dict):
            raise ValueError("not a qattn_hybrid manifest")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"manifest {path} is corrupt or truncated: {err}") from None
    for rel, digest in files.items():
        file = folder / rel
        if not file.is_file():
            raise CheckpointError(f"model file {file} is missing (listed in {path})")
        if sha256_file(file) != digest:
            raise CheckpointError(f"model file {file} is corrupt or truncated (its SHA-256 "
                                  f"differs from the one in {MANIFEST_NAME})")


def check_finite(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Refuse weights holding NaN or inf, naming the file and the first bad tensors."""
    bad = [name for name, t in state.items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"weights file {path} holds non-finite values (NaN or inf) in "
                              f"{', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''}")
