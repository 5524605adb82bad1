"""Where a task's data comes from: :class:`TaskSpec`, by configuration alone.

A JSONL or CSV file, the text field, the label field, the task type (a name in
:data:`qattn_hybrid.tasks.kinds.TASKS`) and the split values, plus how to cut the data
(max_examples, holdouts). What the task *is* (labels, loss, metrics) is its
:class:`qattn_hybrid.tasks.kinds.Task`, built once the data is read
(:mod:`qattn_hybrid.data.loading`). Importing this module loads no torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qattn_hybrid.config.choices import choices

__all__ = ["TaskSpec"]


@dataclass(frozen=True)
class TaskSpec:
    """One task, by configuration alone."""

    name: str  # task name, the key everywhere else (heads, metrics, sampler)
    file: str  # path to a .jsonl/.csv file, or a bundled name ("clinc150", ...)
    text_field: str = "text"  # field holding the input text
    label_field: str = "label"  # field holding the label (a number for regression)
    task_type: str = "classification"  # a task type: "classification", "regression", ...
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
        types = choices("task")
        _check(self.task_type in types, "task_type",
               f"one of {', '.join(map(repr, types))}", self, self.task_type)
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
            from qattn_hybrid.tasks.kinds import task_class  # (torch: only for a label_map)

            _check(task_class(self.task_type).categorical, "label_map",
                   f"None for a {self.task_type} task", self, dict(self.label_map))

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

