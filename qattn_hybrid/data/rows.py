"""A task's rows from its data file: read (JSONL or CSV, cached per file), labelled, split.

:func:`read_rows` reads a file once (the three CLINC tasks share one); :func:`split_rows` turns
rows into ``{split: [(text, label)]}`` after the spec's label_map, skipped labels, holdouts
(test_from_train, validation_from_train: :func:`carve_validation`) and max_examples
(:func:`limit`), and checks that every named split has rows (:func:`check_split_values`).
Labels stay raw here; the task type turns them into targets (:mod:`qattn_hybrid.data.loading`).

While a task's rows are split they are ``(text, label, stratum)`` tuples; the stratum is the
label unless the spec's ``stratify_field`` names another field. ``max_examples`` keeps one row
of every stratum of a categorical task while it fits and the rest proportional; other tasks
get a plain seeded subset. Rows keep their file order.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from qattn_hybrid.config.taskspec import TaskSpec

__all__ = ["DEFAULT_SPLITS", "carve_validation", "check_split_values", "limit", "read_rows",
           "split_rows"]

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


# Validation splits carved from train, and the check that every named split has rows.

def check_split_values(spec, path: Path, rows: list[dict[str, Any]],
                        out: dict[str, list]) -> None:
    """Every split_values entry must match rows: a typo never leaves a split silently empty."""
    if spec.split_field is None or spec.split_values is None:
        return
    for split, value in spec.split_values.items():
        if not out.get(split):
            found = sorted({str(r.get(spec.split_field)) for r in rows})
            raise ValueError(
                f"Task {spec.name!r}: split_values[{split!r}] must match rows of {path}; got "
                f"{value!r}, which matches 0 rows of field {spec.split_field!r} (values found: "
                f"{', '.join(map(repr, found))}). Fix the value or leave the split out of "
                f"split_values (test_from_train / validation_from_train carve one from train)"
            )


def carve_validation(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, validation): a seeded ``fraction`` of every stratum, file order kept.

    ``rows`` are (text, label, stratum) tuples. Each stratum with n rows gives round(n·fraction)
    of them (at least 1 when n >= 2, and never all), chosen by a generator seeded with ``seed``.
    """
    by_stratum: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_stratum.setdefault(row[2], []).append(i)
    g = torch.Generator().manual_seed(seed)
    held: set[int] = set()
    for stratum in sorted(by_stratum):
        idx = by_stratum[stratum]
        k = min(max(round(len(idx) * fraction), 1 if len(idx) >= 2 else 0), len(idx) - 1)
        held.update(idx[j] for j in torch.randperm(len(idx), generator=g)[:k].tolist())
    train = [r for i, r in enumerate(rows) if i not in held]
    return train, [r for i, r in enumerate(rows) if i in held]


# ``max_examples``: a seeded subset of a task's rows, stratified for classes.

def limit(spec, out: dict[str, list], categorical: bool) -> dict[str, list]:
    """Every split cut to ``spec.max_examples`` rows; other splits lose the labels train's
    subset lost. ``categorical``: the task's labels are classes (stratify by them)."""
    n, seed = spec.max_examples, spec.seed
    if not categorical:
        return {s: _subset(r, n, seed) for s, r in out.items()}
    if len({r[2] for r in out["train"]}) > n:  # too few rows for one per stratum: by label,
        out = {s: [(t, lab, lab) for t, lab, _ in r] for s, r in out.items()}  # keeps labels
    train = _stratified_subset(out["train"], n, seed)
    lost = {r[1] for r in out["train"]} - {r[1] for r in train}  # only when n < labels
    cut = {s: _stratified_subset([r for r in rows if r[1] not in lost], n, seed)
           for s, rows in out.items() if s != "train"}
    return {s: train if s == "train" else cut[s] for s in out if s == "train" or cut[s]}


def _subset(rows: list, n: int, seed: int) -> list:
    if len(rows) <= n:
        return rows
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(rows), generator=g)[:n].sort().values.tolist()
    return [rows[i] for i in keep]  # file order kept


def _stratified_subset(rows: list, n: int, seed: int) -> list:
    """At most n (text, label, stratum) rows, a seeded random choice within each stratum (the
    label unless stratify_field says otherwise), in file order."""
    if len(rows) <= n:
        return rows
    by_label: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row[2], []).append(i)
    g = torch.Generator().manual_seed(seed)
    take = _allocate({lab: len(idx) for lab, idx in sorted(by_label.items())}, n, g)
    keep = []
    for label, k in take.items():
        idx = by_label[label]
        keep += [idx[j] for j in torch.randperm(len(idx), generator=g)[:k].tolist()]
    return [rows[i] for i in sorted(keep)]


def _allocate(counts: dict[str, int], n: int, g: torch.Generator) -> dict[str, int]:
    """Rows per label, summing to n < sum(counts): one each, the rest by largest remainder.

    With n < len(counts) only the n most frequent labels get their one row. Ties (equal counts,
    equal remainders) are broken by the generator, so the seed decides them.
    """
    labels = list(counts)
    tie = dict(zip(labels, torch.randperm(len(labels), generator=g).tolist()))
    if n < len(labels):
        return {lab: 1 for lab in sorted(labels, key=lambda lab: (-counts[lab], tie[lab]))[:n]}
    spare, total = n - len(labels), sum(counts.values()) - len(labels)  # spare < total
    share = {lab: divmod(spare * (counts[lab] - 1), total) for lab in labels}  # exact
    take = {lab: 1 + q for lab, (q, _) in share.items()}
    left = n - sum(take.values())  # < len(labels); goes to the largest remainders (all > 0)
    for lab in sorted(labels, key=lambda lab: (-share[lab][1], tie[lab]))[:left]:
        take[lab] += 1
    return take
