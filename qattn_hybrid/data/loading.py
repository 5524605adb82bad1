"""Tasks loaded for training: :func:`load_task` reads a :class:`TaskSpec` into a
:class:`TaskData` with one :class:`TaskSplit` (texts + target tensor) per split.

Which rows a task has is :mod:`qattn_hybrid.data.rows`' job (reading, label_map, splits, holdouts,
max_examples); how raw labels become targets is the task type's
(:class:`qattn_hybrid.tasks.kinds.Task`: for classification a label list built from the train split,
sorted so the label ids are the same on every machine, and class ids; for regression floats).
:class:`TaskSpec` lives in :mod:`qattn_hybrid.config.taskspec` and the built-in presets in
:mod:`qattn_hybrid.config.presets`; both are importable from here too.

Which task each training step draws is :mod:`qattn_hybrid.training.sampling`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from qattn_hybrid.config.presets import DATASETS_DIR, PRESETS, get_preset, resolve_data_file
from qattn_hybrid.config.taskspec import TaskSpec
from qattn_hybrid.data.rows import read_rows, split_rows
from qattn_hybrid.tasks.kinds import task_class

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
    kind = task_class(spec.task_type)
    path = resolve_data_file(spec.file)
    raw = split_rows(spec, path, read_rows(spec, path), kind.categorical)
    labels = kind.label_list([lab for _, lab in raw["train"]])
    splits = {s: TaskSplit([t for t, _ in rows],
                           kind.encode_targets(spec, path, s, [lab for _, lab in rows], labels))
              for s, rows in raw.items()}
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
