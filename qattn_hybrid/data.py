"""Text-classification tasks from configuration, the bundled data, and task samplers.

A task is described by configuration alone (:class:`TaskSpec`): a JSONL or CSV file, the text
field, the label field, the task type and the split values. :func:`load_task` reads it into a
:class:`TaskData` with one :class:`TaskSplit` (texts + label tensor) per split and a label list
built from the train split (sorted, so the label ids are the same on every machine).

Built-in presets on the bundled data (``qattn_hybrid/datasets``, see its README):
``clinc_intent`` (151-way), ``clinc_domain`` (11-way), ``clinc_oos`` (binary) and
``fin_sentiment`` (3-way, test held out from train by a seeded hash of the text).

Multi-task training draws one task per step with a :class:`TaskSampler` from
:data:`SAMPLERS` (``proportional``, ``temperature``, ``round_robin``)::

    tasks = load_tasks(["clinc_intent", "fin_sentiment"])
    sampler = make_sampler("temperature", {n: len(t.train) for n, t in tasks.items()},
                           batch_size=32, seed=0, temperature=2.0)
    for epoch in range(3):
        for task, idx in sampler:            # idx: LongTensor (B,) into tasks[task].train
            texts, labels = tasks[task].train.batch(idx)

Every sampler is seeded, resumable (``state_dict()`` / ``load_state_dict()``, mid-epoch too) and
DDP-aware: with ``rank`` / ``world_size`` each rank draws from a disjoint shard of every task while
all ranks follow the same task order.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import torch

__all__ = [
    "DATASETS_DIR",
    "PRESETS",
    "SAMPLERS",
    "ProportionalSampler",
    "RoundRobinSampler",
    "TaskData",
    "TaskSampler",
    "TaskSpec",
    "TaskSplit",
    "TemperatureSampler",
    "get_preset",
    "load_task",
    "load_tasks",
    "make_sampler",
    "resolve_data_file",
]

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
TaskType = Literal["classification", "regression"]
_FORMATS = {".jsonl": "jsonl", ".csv": "csv"}
_BUNDLED = {  # short names for the bundled files
    "clinc150": "clinc150/clinc150.jsonl",
    "twitter_financial_news_sentiment": (
        "twitter_financial_news_sentiment/twitter_financial_news_sentiment.jsonl"
    ),
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
    split_values: Mapping[str, str] = field(  # our split name -> value in split_field
        default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"}
    )
    label_map: Mapping[str, str] | None = None  # raw label -> label; key "*" maps any other raw
    max_examples: int | None = None  # keep at most this many rows per split (seeded subset)
    test_from_train: float = 0.0  # fraction of train rows held out as test (hash of the text)
    seed: int = 0  # seed of the max_examples subset

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
        _check(0.0 <= self.test_from_train < 1.0, "test_from_train", "in [0, 1)", self,
               self.test_from_train)
        if self.label_map is not None:
            _check(self.task_type == "classification", "label_map",
                   "None for a regression task", self, dict(self.label_map))

    def replace(self, **changes: Any) -> TaskSpec:
        """A copy with some fields changed (e.g. ``max_examples`` for a quick run)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``TaskSpec(**d)`` rebuilds the spec."""
        d = dataclasses.asdict(self)
        d["split_values"] = dict(self.split_values)
        d["label_map"] = None if self.label_map is None else dict(self.label_map)
        return d


def _check(ok: bool, field_name: str, expected: str, spec: TaskSpec, got: Any = None) -> None:
    if not ok:
        got = getattr(spec, field_name) if got is None else got
        raise ValueError(f"Task {spec.name!r}: {field_name} must be {expected}; got {got!r}")


PRESETS: dict[str, TaskSpec] = {
    "clinc_intent": TaskSpec("clinc_intent", "clinc150", label_field="label"),
    "clinc_domain": TaskSpec("clinc_domain", "clinc150", label_field="domain"),
    "clinc_oos": TaskSpec(
        "clinc_oos", "clinc150", label_field="label", label_map={"oos": "oos", "*": "in_scope"}
    ),
    "fin_sentiment": TaskSpec(
        "fin_sentiment", "twitter_financial_news_sentiment", test_from_train=0.1
    ),
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
    """Rows -> {split: [(text, label)]}, after label_map, holdout and max_examples."""
    for fname, what in ((spec.text_field, "text_field"), (spec.label_field, "label_field")):
        if fname not in rows[0]:
            raise KeyError(
                f"Task {spec.name!r}: {what} {fname!r} must be a field of {path}; "
                f"got fields {sorted(rows[0])}"
            )
    by_value = {v: s for s, v in spec.split_values.items()}
    out: dict[str, list[tuple[str, Any]]] = {s: [] for s in spec.split_values}
    out.setdefault("train", [])
    for lineno, row in enumerate(rows, 1):
        split = "train" if spec.split_field is None else by_value.get(row.get(spec.split_field))
        if split is None:
            continue
        text, label = _field(spec, path, row, lineno)
        out[split].append((text, label))
    if spec.test_from_train > 0:
        if out.get("test"):
            raise ValueError(
                f"Task {spec.name!r}: test_from_train must be 0 when {path} has a test split; "
                f"got {spec.test_from_train!r} and {len(out['test'])} test rows"
            )
        out["train"], out["test"] = _hold_out(spec, out["train"])
    out = {s: r for s, r in out.items() if r or s == "train"}
    if not out["train"]:
        raise ValueError(
            f"Task {spec.name!r}: train split must not be empty; got 0 rows with "
            f"{spec.split_field}={spec.split_values.get('train')!r} in {path}"
        )
    if spec.max_examples is not None:
        out = {s: _subset(r, spec.max_examples, spec.seed) for s, r in out.items()}
    return out


def _field(spec: TaskSpec, path: Path, row: dict[str, Any], lineno: int) -> tuple[str, Any]:
    if spec.text_field not in row or spec.label_field not in row:
        missing = spec.text_field if spec.text_field not in row else spec.label_field
        raise KeyError(f"Task {spec.name!r}: row {lineno} of {path} has no field {missing!r}")
    text, label = row[spec.text_field], row[spec.label_field]
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


def _subset(rows: list, n: int, seed: int) -> list:
    if len(rows) <= n:
        return rows
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(rows), generator=g)[:n].sort().values.tolist()
    return [rows[i] for i in keep]  # file order kept


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


# --------------------------------------------------------------------------- task samplers
class TaskSampler:
    """Yields ``(task_name, indices)`` per step: which task to train and which of its rows.

    ``sizes`` maps task name -> number of train rows (its order is the task order). Each task has
    its own index stream: a seeded permutation of its rows, sharded across ranks (rank r takes
    positions r, r + world_size, ...; the rows left over when the size is not a multiple of
    world_size are skipped that pass), consumed ``batch_size`` at a time, reshuffled when spent.
    Subclasses only choose the task order of an epoch (:meth:`task_order`), from a generator seeded
    by (seed, epoch) and never by rank, so every rank trains the same task at the same step.

    ``steps_per_epoch`` defaults to sum over tasks of ceil(rows per rank / batch_size): the steps
    a proportional sampler needs to show every row about once.
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        sizes: Mapping[str, int],
        batch_size: int,
        *,
        seed: int = 0,
        steps_per_epoch: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        _check_sampler_args(sizes, batch_size, steps_per_epoch, rank, world_size)
        self.sizes = {str(k): int(v) for k, v in sizes.items()}
        self.tasks = list(self.sizes)
        self.batch_size, self.seed = batch_size, seed
        self.rank, self.world_size = rank, world_size
        per_rank = [n // world_size for n in self.sizes.values()]
        self.steps_per_epoch = steps_per_epoch or sum(math.ceil(n / batch_size) for n in per_rank)
        self.epoch, self.step = 0, 0  # position: next step to yield
        self._cursor = {t: (0, 0) for t in self.tasks}  # task -> (pass, offset) in its stream
        self._shards: dict[str, tuple[int, torch.Tensor]] = {}  # task -> (pass, shard) cache

    def probabilities(self) -> dict[str, float]:
        """Probability of drawing each task at a step (uniform for round-robin)."""
        raise NotImplementedError

    def task_order(self, epoch: int) -> list[int]:
        """Task index of every step of ``epoch``; the same on every rank."""
        p = torch.tensor(list(self.probabilities().values()), dtype=torch.float64)
        g = torch.Generator().manual_seed(_mix(self.seed, epoch, -1))
        return torch.multinomial(p, self.steps_per_epoch, replacement=True, generator=g).tolist()

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor]]:
        """The rest of the current epoch; the next ``iter()`` starts the next epoch."""
        order = self.task_order(self.epoch)
        while self.step < self.steps_per_epoch:
            task = self.tasks[order[self.step]]
            indices = self._take(task)
            self.step += 1
            yield task, indices
        self.epoch, self.step = self.epoch + 1, 0

    def _shard(self, task: str, pass_: int) -> torch.Tensor:
        cached = self._shards.get(task)
        if cached is not None and cached[0] == pass_:
            return cached[1]
        g = torch.Generator().manual_seed(_mix(self.seed, self.tasks.index(task), pass_))
        perm = torch.randperm(self.sizes[task], generator=g)  # same on every rank
        usable = (self.sizes[task] // self.world_size) * self.world_size
        shard = perm[:usable][self.rank :: self.world_size]
        self._shards[task] = (pass_, shard)
        return shard

    def _take(self, task: str) -> torch.Tensor:
        pass_, offset = self._cursor[task]
        parts, need = [], self.batch_size
        while need > 0:
            shard = self._shard(task, pass_)
            chunk = shard[offset : offset + need]
            parts.append(chunk)
            need -= len(chunk)
            offset += len(chunk)
            if offset >= len(shard):
                pass_, offset = pass_ + 1, 0
        self._cursor[task] = (pass_, offset)
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this sampler is (plain JSON types)."""
        return {
            "name": self.name,
            "sizes": dict(self.sizes),
            "batch_size": self.batch_size,
            "seed": self.seed,
            "world_size": self.world_size,
            "steps_per_epoch": self.steps_per_epoch,
            "epoch": self.epoch,
            "step": self.step,
            "cursor": {t: list(c) for t, c in self._cursor.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a sampler built the same way (rank may differ)."""
        for key in ("name", "sizes", "batch_size", "seed", "world_size", "steps_per_epoch"):
            mine = self.state_dict()[key]
            theirs = state.get(key)
            if theirs != mine:
                raise ValueError(
                    f"Sampler state {key} must match this sampler's ({mine!r}); got {theirs!r}"
                )
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self._cursor = {t: (int(p), int(o)) for t, (p, o) in state["cursor"].items()}


def _mix(*numbers: int) -> int:
    """A 63-bit seed from several integers (stable across runs and machines)."""
    digest = hashlib.sha256(",".join(map(str, numbers)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _check_sampler_args(sizes, batch_size, steps_per_epoch, rank, world_size) -> None:
    if not sizes:
        raise ValueError("sizes must name at least one task; got an empty mapping")
    if not (isinstance(world_size, int) and world_size >= 1):
        raise ValueError(f"world_size must be an int >= 1; got {world_size!r}")
    if not (isinstance(rank, int) and 0 <= rank < world_size):
        raise ValueError(f"rank must be an int in [0, {world_size}); got {rank!r}")
    for task, n in sizes.items():
        if not (isinstance(n, int) and n >= world_size):
            raise ValueError(
                f"Task {task!r}: size must be an int >= world_size ({world_size}); got {n!r}"
            )
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    if steps_per_epoch is not None and not (
        isinstance(steps_per_epoch, int) and steps_per_epoch >= 1
    ):
        raise ValueError(f"steps_per_epoch must be an int >= 1 or None; got {steps_per_epoch!r}")


class ProportionalSampler(TaskSampler):
    """Draw a task with probability proportional to its number of rows."""

    name = "proportional"

    def probabilities(self) -> dict[str, float]:
        total = sum(self.sizes.values())
        return {t: n / total for t, n in self.sizes.items()}


class TemperatureSampler(TaskSampler):
    """Draw a task with probability proportional to n^(1/T) (T=1: proportional; T->inf: uniform)."""

    name = "temperature"

    def __init__(self, sizes: Mapping[str, int], batch_size: int, *, temperature: float = 2.0,
                 **kwargs: Any) -> None:
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a number > 0; got {temperature!r}")
        super().__init__(sizes, batch_size, **kwargs)
        self.temperature = float(temperature)

    def probabilities(self) -> dict[str, float]:
        w = {t: n ** (1.0 / self.temperature) for t, n in self.sizes.items()}
        total = sum(w.values())
        return {t: v / total for t, v in w.items()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "temperature": self.temperature}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("temperature") != self.temperature:
            raise ValueError(
                f"Sampler state temperature must match this sampler's ({self.temperature!r}); "
                f"got {state.get('temperature')!r}"
            )
        super().load_state_dict(state)


class RoundRobinSampler(TaskSampler):
    """Tasks in turn, in the order of ``sizes``: t0, t1, ..., t0, t1, ... (no randomness)."""

    name = "round_robin"

    def probabilities(self) -> dict[str, float]:
        return {t: 1.0 / len(self.tasks) for t in self.tasks}

    def task_order(self, epoch: int) -> list[int]:
        start = epoch * self.steps_per_epoch  # continue the cycle across epochs
        return [(start + s) % len(self.tasks) for s in range(self.steps_per_epoch)]


SAMPLERS: dict[str, type[TaskSampler]] = {
    cls.name: cls for cls in (ProportionalSampler, TemperatureSampler, RoundRobinSampler)
}


def make_sampler(name: str, sizes: Mapping[str, int], batch_size: int,
                 **kwargs: Any) -> TaskSampler:
    """Build a sampler from :data:`SAMPLERS` by name (``temperature=`` for ``temperature``)."""
    if name not in SAMPLERS:
        raise KeyError(f"Unknown sampler {name!r}. Available: {', '.join(SAMPLERS)}")
    return SAMPLERS[name](sizes, batch_size, **kwargs)
