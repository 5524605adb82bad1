"""Text-classification tasks from configuration, and the bundled data.

A task is described by configuration alone (:class:`TaskSpec`): a JSONL or CSV file, the text
field, the label field, the task type and the split values. :func:`load_task` reads it into a
:class:`TaskData` with one :class:`TaskSplit` (texts + label tensor) per split and a label list
built from the train split (sorted, so the label ids are the same on every machine).

Built-in presets on the bundled data (``qattn_hybrid/datasets``, see its README):
``clinc_intent`` (151-way), ``clinc_domain`` (11-way), ``clinc_oos`` (binary) and
``fin_sentiment`` (3-way, test held out from train by a seeded hash of the text);
``clothing_rating`` (regression on the 1-5 rating), ``clothing_recommend`` (binary) and
``clothing_department`` (6-way) on the women's clothing reviews, split by item.

Which task each training step draws is :mod:`qattn_hybrid.sampling`'s job.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import torch

from qattn_hybrid.splits import carve_validation, check_split_values

__all__ = [
    "DATASETS_DIR",
    "PRESETS",
    "TaskData",
    "TaskSpec",
    "TaskSplit",
    "get_preset",
    "load_task",
    "load_tasks",
    "resolve_data_file",
]

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
TaskType = Literal["classification", "regression"]
DEFAULT_SPLITS = {"train": "train", "validation": "validation", "test": "test"}
_FORMATS = {".jsonl": "jsonl", ".csv": "csv"}
_BUNDLED = {  # short names for the bundled files
    "clinc150": "clinc150/clinc150.jsonl",
    "twitter_financial_news_sentiment": (
        "twitter_financial_news_sentiment/twitter_financial_news_sentiment.jsonl"
    ),
    "womens_clothing_reviews": "womens_clothing_reviews/womens_clothing_reviews.jsonl",
}


# --------------------------------------------------------------------------- task specification
@dataclass(frozen=True)
class TaskSpec:
    """One task, by configuration alone."""

    name: str  # task name, the key everywhere else (heads, metrics, sampler)
    file: str  # path to a .jsonl/.csv file, or a bundled name ("clinc150", ...)
    text_field: str = "text"  # field holding the input text
    label_field: str = "label"  # field holding the label (a number for regression)
    task_type: TaskType = "classification"
    format: str | None = None  # "jsonl" | "csv"; None: from the file suffix
    split_field: str | None = "split"  # field naming the split; None: every row is train
    # our split name -> value in split_field. None: train/validation/test, each where present
    # (a missing validation split is then caught when training); an entry given here that
    # matches no row is an error naming the values the file has
    split_values: Mapping[str, str] | None = None
    label_map: Mapping[str, str] | None = None  # raw label -> label; key "*" maps any other raw
    skip_missing_labels: bool = False  # rows whose label is null or "" are left out of this task
    # at most this many rows per split: a seeded subset in file order; for classification
    # stratified by label (one row of every label while it fits, the rest proportional)
    max_examples: int | None = None
    test_from_train: float = 0.0  # fraction of train rows held out as test (hash of the text)
    # fraction of train rows (after test_from_train) carved out as the validation split:
    # stratified by label, seeded by `seed`, disjoint from test; for files with no validation
    validation_from_train: float = 0.0
    # a task with no validation rows is an error (training needs them to pick its best
    # epoch) unless this opt-out is set
    allow_no_validation: bool = False
    # field whose raw value stratifies the max_examples subset and validation_from_train
    # (default: the task's label). Tasks on one file with one stratify_field, max_examples and
    # seed get the same rows, so their texts are encoded once (the CLINC presets use "label")
    stratify_field: str | None = None
    seed: int = 0  # seed of the max_examples subset and of validation_from_train

    def __post_init__(self) -> None:
        _check(isinstance(self.name, str) and self.name != "", "name", "a non-empty str", self)
        _check(self.task_type in ("classification", "regression"), "task_type",
               "'classification' or 'regression'", self, self.task_type)
        if self.format is not None:
            _check(self.format in ("jsonl", "csv"), "format", "'jsonl' or 'csv'", self,
                   self.format)
        if self.max_examples is not None:
            _check(isinstance(self.max_examples, int) and self.max_examples > 0, "max_examples",
                   "a positive int or None", self, self.max_examples)
        for name in ("text_field", "label_field"):
            _check(isinstance(getattr(self, name), str) and getattr(self, name) != "", name,
                   "a non-empty str", self, getattr(self, name))
        _check(self.split_field is None or isinstance(self.split_field, str), "split_field",
               "a str or None", self, self.split_field)
        _check(self.split_values is None or (_str_table(self.split_values)
                                             and "train" in self.split_values), "split_values",
               "None or a table of str values with a 'train' entry", self, self.split_values)
        _check(isinstance(self.test_from_train, (int, float))
               and not isinstance(self.test_from_train, bool), "test_from_train",
               "a number in [0, 1)", self, self.test_from_train)
        _check(0.0 <= self.test_from_train < 1.0, "test_from_train", "in [0, 1)", self,
               self.test_from_train)
        _check(isinstance(self.skip_missing_labels, bool), "skip_missing_labels", "a bool",
               self)
        _check(0.0 <= self.validation_from_train < 1.0, "validation_from_train", "in [0, 1)",
               self, self.validation_from_train)
        if self.label_map is not None:
            _check(_str_table(self.label_map), "label_map", "a table of str values or None",
                   self, self.label_map)
            _check(self.task_type == "classification", "label_map",
                   "None for a regression task", self, dict(self.label_map))

    def replace(self, **changes: Any) -> TaskSpec:
        """A copy with some fields changed (e.g. ``max_examples`` for a quick run)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``TaskSpec(**d)`` rebuilds the spec."""
        d = dataclasses.asdict(self)
        d["split_values"] = None if self.split_values is None else dict(self.split_values)
        d["label_map"] = None if self.label_map is None else dict(self.label_map)
        return d


def _str_table(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _check(ok: bool, field_name: str, expected: str, spec: TaskSpec, got: Any = None) -> None:
    if not ok:
        got = getattr(spec, field_name) if got is None else got
        raise ValueError(f"Task {spec.name!r}: {field_name} must be {expected}; got {got!r}")


PRESETS: dict[str, TaskSpec] = {  # the CLINC tasks stratify by intent: one shared subset
    "clinc_intent": TaskSpec("clinc_intent", "clinc150", label_field="label",
                             stratify_field="label"),
    "clinc_domain": TaskSpec("clinc_domain", "clinc150", label_field="domain",
                             stratify_field="label"),
    "clinc_oos": TaskSpec(
        "clinc_oos", "clinc150", label_field="label", label_map={"oos": "oos", "*": "in_scope"},
        stratify_field="label",
    ),
    "fin_sentiment": TaskSpec(
        "fin_sentiment", "twitter_financial_news_sentiment", test_from_train=0.1,
        split_values={"train": "train", "validation": "validation"},  # the file has no test
    ),
    # women's clothing reviews: one file, train/validation/test split by item (Clothing ID)
    "clothing_rating": TaskSpec("clothing_rating", "womens_clothing_reviews",
                                label_field="rating", task_type="regression"),
    "clothing_recommend": TaskSpec("clothing_recommend", "womens_clothing_reviews",
                                   label_field="recommended"),
    "clothing_department": TaskSpec("clothing_department", "womens_clothing_reviews",
                                    label_field="department", skip_missing_labels=True),
}


def get_preset(name: str) -> TaskSpec:
    """The built-in :class:`TaskSpec` called ``name``."""
    if name not in PRESETS:
        raise KeyError(f"Unknown task {name!r}. Available: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def resolve_data_file(file: str | os.PathLike) -> Path:
    """A bundled short name (``clinc150``), a path inside the bundle, or a path on disk."""
    text = str(file)
    if text in _BUNDLED:
        return DATASETS_DIR / _BUNDLED[text]
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists() and (DATASETS_DIR / path).exists():
        return DATASETS_DIR / path
    return path


# --------------------------------------------------------------------------- loaded data
class TaskSplit(NamedTuple):
    """One split of one task: texts and labels, index-aligned."""

    texts: list[str]  # (N,)
    labels: torch.Tensor  # (N,) int64 label ids, or float32 targets for regression

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, indices: torch.Tensor | Sequence[int]) -> tuple[list[str], torch.Tensor]:
        """``(texts, labels)`` of the rows at ``indices``."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return [self.texts[i] for i in idx.tolist()], self.labels[idx]


@dataclass
class TaskData:
    """A loaded task: its spec, its label list and its splits."""

    spec: TaskSpec
    labels: tuple[str, ...]  # id -> label, sorted; () for regression
    splits: dict[str, TaskSplit]  # "train" always; "validation" / "test" when present

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def num_labels(self) -> int:
        """Number of classes (1 for regression: one output)."""
        return len(self.labels) if self.labels else 1

    @property
    def label_to_id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def train(self) -> TaskSplit:
        return self.splits["train"]

    def split(self, name: str) -> TaskSplit:
        if name not in self.splits:
            raise KeyError(
                f"Task {self.name!r} has no split {name!r}. Available: {', '.join(self.splits)}"
            )
        return self.splits[name]


def load_task(spec: TaskSpec | str) -> TaskData:
    """Read a task (a :class:`TaskSpec` or a preset name) into a :class:`TaskData`."""
    spec = get_preset(spec) if isinstance(spec, str) else spec
    path = resolve_data_file(spec.file)
    rows = _read_rows(spec, path)
    raw = _split_rows(spec, path, rows)
    if spec.task_type == "regression":
        splits = {s: _regression_split(spec, path, r) for s, r in raw.items()}
        return TaskData(spec, (), splits)
    labels = tuple(sorted({lab for _, lab in raw["train"]}))
    to_id = {lab: i for i, lab in enumerate(labels)}
    splits = {s: _classification_split(spec, path, s, r, to_id) for s, r in raw.items()}
    return TaskData(spec, labels, splits)


def load_tasks(specs: Sequence[TaskSpec | str]) -> dict[str, TaskData]:
    """Several tasks, keyed by name in the order given; duplicate names are an error."""
    tasks: dict[str, TaskData] = {}
    for spec in specs:
        task = load_task(spec)
        if task.name in tasks:
            raise ValueError(f"Task names must be unique; got {task.name!r} twice")
        tasks[task.name] = task
    return tasks


# --------------------------------------------------------------------------- reading files
_ROW_CACHE: dict[tuple, list[dict[str, Any]]] = {}


def _read_rows(spec: TaskSpec, path: Path) -> list[dict[str, Any]]:
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


def _split_rows(
    spec: TaskSpec, path: Path, rows: list[dict[str, Any]]
) -> dict[str, list[tuple[str, Any]]]:
    """Rows -> {split: [(text, label)]}, after label_map, holdouts and max_examples."""
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
        text, label = _field(spec, path, row, lineno)
        if spec.skip_missing_labels and label in (None, ""):
            continue
        if spec.stratify_field is not None:
            strat = str(row.get(spec.stratify_field))
        else:  # by label; a regression target is not a stratum
            strat = label if spec.task_type == "classification" else ""
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
        out = _limit(spec, out)
    return {s: [(t, lab) for t, lab, _ in r] for s, r in out.items()}


def _field(spec: TaskSpec, path: Path, row: dict[str, Any], lineno: int) -> tuple[str, Any]:
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
    if spec.task_type == "classification":
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


def _limit(spec: TaskSpec, out: dict[str, list]) -> dict[str, list]:
    """Every split cut to max_examples rows; other splits lose the labels train's subset lost."""
    n, seed = spec.max_examples, spec.seed
    if spec.task_type == "regression":
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


def _classification_split(
    spec: TaskSpec, path: Path, split: str, rows: list, to_id: dict[str, int]
) -> TaskSplit:
    ids = []
    for text, label in rows:
        if label not in to_id:
            raise KeyError(
                f"Task {spec.name!r}: label {label!r} in the {split} split of {path} must be a "
                f"label of the train split; got one the train split does not have "
                f"(train labels: {len(to_id)})"
            )
        ids.append(to_id[label])
    return TaskSplit([t for t, _ in rows], torch.tensor(ids, dtype=torch.long))


def _regression_split(spec: TaskSpec, path: Path, rows: list) -> TaskSplit:
    try:
        values = [float(y) for _, y in rows]
    except (TypeError, ValueError):
        bad = next(y for _, y in rows if not _is_number(y))
        raise ValueError(
            f"Task {spec.name!r}: label field {spec.label_field!r} must be a number for a "
            f"regression task; got {bad!r} in {path}"
        ) from None
    return TaskSplit([t for t, _ in rows], torch.tensor(values, dtype=torch.float32))


def _is_number(y: Any) -> bool:
    try:
        float(y)
    except (TypeError, ValueError):
        return False
    return True
