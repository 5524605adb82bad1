"""A task's data: bundled files, rows read and split, and tasks loaded for training.

    loading.py  :func:`load_task` / :func:`load_tasks`: a TaskSpec into a task's splits
    rows.py     rows read from a file (JSONL, CSV), labelled, split, subset
    datasets/   the bundled datasets, with their licences (``datasets/README.md``)
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "DATASETS_DIR": "qattn_hybrid.data.loading",
    "PRESETS": "qattn_hybrid.data.loading",
    "TaskData": "qattn_hybrid.data.loading",
    "TaskSpec": "qattn_hybrid.data.loading",
    "TaskSplit": "qattn_hybrid.data.loading",
    "get_preset": "qattn_hybrid.data.loading",
    "load_task": "qattn_hybrid.data.loading",
    "load_tasks": "qattn_hybrid.data.loading",
    "resolve_data_file": "qattn_hybrid.data.loading",
    "DEFAULT_SPLITS": "qattn_hybrid.data.rows",
    "carve_validation": "qattn_hybrid.data.rows",
    "check_split_values": "qattn_hybrid.data.rows",
    "limit": "qattn_hybrid.data.rows",
    "read_rows": "qattn_hybrid.data.rows",
    "split_rows": "qattn_hybrid.data.rows",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
