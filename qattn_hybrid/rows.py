"""A task's rows from its data file: read (JSONL or CSV, cached per file), labelled, split.

:func:`read_rows` reads a file once (the three CLINC tasks share one); :func:`split_rows` turns
rows into ``{split: [(text, label)]}`` after the spec's label_map, skipped labels, holdouts
(test_from_train, validation_from_train) and max_examples (:mod:`qattn_hybrid.subsets`).
Labels stay raw here; the task type turns them into targets (:mod:`qattn_hybrid.data`).
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

from qattn_hybrid.splits import carve_validation, check_split_values
from qattn_hybrid.subsets import limit
from qattn_hybrid.taskspec import TaskSpec

__all__ = ["DEFAULT_SPLITS", "read_rows", "split_rows"]

DEFAULT_SPLITS = {"train": "train", "validation": "validation", "test": "test"}
_FORMATS = {".jsonl": "jsonl", ".csv": "csv"}
_ROW_CACHE: dict[tuple, list[dict[str, Any]]] = {}


def read_rows(spec: TaskSpec, path: Path) -> list[dict[str, Any]]:
    fmt = spec.format or _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"Task {spec.name!r}: format must be one of {sorted(_FORMATS.values())} (or a file "
            f"ending in {', '.join(_FORMATS)}); got suffix {path.suffix!r} for {path}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"Task {spec.name!r}: data file {path} does not exist")
    stat = path.stat()
    key = (str(path), fmt, stat.st_mtime_ns, stat.st_size)
    if key not in _ROW_CACHE:  # the three CLINC tasks share one file: read it once
        _ROW_CACHE.clear()
        _ROW_CACHE[key] = _read_jsonl(spec, path) if fmt == "jsonl" else _read_csv(path)
    rows = _ROW_CACHE[key]
    if not rows:
        raise ValueError(f"Task {spec.name!r}: dataset must not be empty; got 0 rows in {path}")
    return rows


def _read_jsonl(spec: TaskSpec, path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(
                    f"Task {spec.name!r}: line {lineno} of {path} must be valid JSON; got {err}"
                ) from None
            if not isinstance(row, dict):
                raise ValueError(
                    f"Task {spec.name!r}: line {lineno} of {path} must be a JSON object; "
                    f"got {type(row).__name__}"
                )
            rows.append(row)
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def split_rows(
    spec: TaskSpec, path: Path, rows: list[dict[str, Any]], categorical: bool
) -> dict[str, list[tuple[str, Any]]]:
    """Rows -> {split: [(text, label)]}, after label_map, holdouts and max_examples.

    ``categorical``: the task's labels are classes (read as str, mapped by label_map, used as
    strata); otherwise they are kept as read and are no stratum."""
    fields = [(spec.text_field, "text_field"), (spec.label_field, "label_field")]
    if spec.stratify_field is not None:
        fields.append((spec.stratify_field, "stratify_field"))
    for fname, what in fields:
        if fname not in rows[0]:
            raise KeyError(
                f"Task {spec.name!r}: {what} {fname!r} must be a field of {path}; "
                f"got fields {sorted(rows[0])}"
            )
    split_values = DEFAULT_SPLITS if spec.split_values is None else spec.split_values
    by_value = {v: s for s, v in split_values.items()}
    out: dict[str, list[tuple[str, Any]]] = {s: [] for s in split_values}
    out.setdefault("train", [])
    for lineno, row in enumerate(rows, 1):
        split = "train" if spec.split_field is None else by_value.get(row.get(spec.split_field))
        if split is None:
            continue
        text, label = _field(spec, path, row, lineno, categorical)
        if spec.skip_missing_labels and label in (None, ""):
            continue
        if spec.stratify_field is not None:
            strat = str(row.get(spec.stratify_field))
        else:  # by label; a regression target is not a stratum
            strat = label if categorical else ""
        out[split].append((text, label, strat))
    check_split_values(spec, path, rows, out)
    if spec.test_from_train > 0:
        if out.get("test"):
            raise ValueError(
                f"Task {spec.name!r}: test_from_train must be 0 when {path} has a test split; "
                f"got {spec.test_from_train!r} and {len(out['test'])} test rows"
            )
        out["train"], out["test"] = _hold_out(spec, out["train"])
    if spec.validation_from_train > 0:
        if out.get("validation"):
            raise ValueError(
                f"Task {spec.name!r}: validation_from_train must be 0 when {path} has a "
                f"validation split; got {spec.validation_from_train!r} and "
                f"{len(out['validation'])} validation rows"
            )
        out["train"], out["validation"] = carve_validation(
            out["train"], spec.validation_from_train, spec.seed)
    out = {s: r for s, r in out.items() if r or s == "train"}
    if not out["train"]:
        raise ValueError(
            f"Task {spec.name!r}: train split must not be empty; got 0 rows with "
            f"{spec.split_field}={split_values.get('train')!r} in {path}"
        )
    if spec.max_examples is not None:
        out = limit(spec, out, categorical)
    return {s: [(t, lab) for t, lab, _ in r] for s, r in out.items()}


def _field(spec: TaskSpec, path: Path, row: dict[str, Any], lineno: int,
           categorical: bool) -> tuple[str, Any]:
    if spec.text_field not in row or spec.label_field not in row:
        missing = spec.text_field if spec.text_field not in row else spec.label_field
        raise KeyError(f"Task {spec.name!r}: row {lineno} of {path} has no field {missing!r}")
    text, label = row[spec.text_field], row[spec.label_field]
    if spec.skip_missing_labels and label in (None, ""):
        return text, None  # the caller leaves the row out
    if not isinstance(text, str):
        raise ValueError(
            f"Task {spec.name!r}: field {spec.text_field!r} must be a str; got "
            f"{type(text).__name__} in row {lineno} of {path}"
        )
    if categorical:
        label = str(label)
        if spec.label_map is not None:
            if label not in spec.label_map and "*" not in spec.label_map:
                raise KeyError(
                    f"Task {spec.name!r}: label {label!r} (row {lineno} of {path}) must be a key "
                    f"of label_map (or label_map must have a '*' key); got keys "
                    f"{sorted(spec.label_map)}"
                )
            label = spec.label_map.get(label, spec.label_map.get("*"))
    return text, label


def _hash_unit(text: str, salt: str) -> float:
    """A number in [0, 1) that depends only on (salt, text)."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _hold_out(spec: TaskSpec, rows: list) -> tuple[list, list]:
    salt = f"{spec.name}-test"
    test = [r for r in rows if _hash_unit(r[0], salt) < spec.test_from_train]
    train = [r for r in rows if _hash_unit(r[0], salt) >= spec.test_from_train]
    return train, test
