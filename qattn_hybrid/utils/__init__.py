"""Plumbing every other part uses: files, integrity, processes, progress.

    files.py        atomic writes and safe reads (JSON, safetensors), the checkpoint error
    manifest.py     SHA-256 manifests of saved folders, and the check that weights are finite
    distributed.py  torch.distributed helpers (DDP via ``torchrun``)
    progress.py     a bar on a terminal, log lines elsewhere, or nothing
    lazy.py         lazy public names of a package (every ``__init__`` here uses it)
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "DistContext": "qattn_hybrid.utils.distributed",
    "all_reduce_sums": "qattn_hybrid.utils.distributed",
    "average_buffers": "qattn_hybrid.utils.distributed",
    "average_grads": "qattn_hybrid.utils.distributed",
    "barrier": "qattn_hybrid.utils.distributed",
    "broadcast_object": "qattn_hybrid.utils.distributed",
    "gather_cat": "qattn_hybrid.utils.distributed",
    "is_main": "qattn_hybrid.utils.distributed",
    "rank": "qattn_hybrid.utils.distributed",
    "reshard_sampler_state": "qattn_hybrid.utils.distributed",
    "resolve_device": "qattn_hybrid.utils.distributed",
    "setup": "qattn_hybrid.utils.distributed",
    "teardown": "qattn_hybrid.utils.distributed",
    "unwrap": "qattn_hybrid.utils.distributed",
    "world_size": "qattn_hybrid.utils.distributed",
    "wrap": "qattn_hybrid.utils.distributed",
    "CheckpointError": "qattn_hybrid.utils.files",
    "atomic_directory": "qattn_hybrid.utils.files",
    "atomic_file": "qattn_hybrid.utils.files",
    "atomic_write_text": "qattn_hybrid.utils.files",
    "current_umask": "qattn_hybrid.utils.files",
    "read_json": "qattn_hybrid.utils.files",
    "read_safetensors": "qattn_hybrid.utils.files",
    "recover_directory": "qattn_hybrid.utils.files",
    "resolve_model_dir": "qattn_hybrid.utils.files",
    "sha256_file": "qattn_hybrid.utils.files",
    "MANIFEST_NAME": "qattn_hybrid.utils.manifest",
    "check_finite": "qattn_hybrid.utils.manifest",
    "verify_manifest": "qattn_hybrid.utils.manifest",
    "write_manifest": "qattn_hybrid.utils.manifest",
    "ProgressLog": "qattn_hybrid.utils.progress",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
