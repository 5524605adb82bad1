"""What a task is: one :class:`Task` object per task, one class per task type.

A task's name, type, labels (ids <-> names), loss, metrics (the first is the primary one, with
its "higher is better"), output size and how outputs are read (labels, probabilities, values)
all live on its Task. The model, evaluation, model selection, the probe, ranking and serving
ask the Task; none of them switches on the task type::

    task = ClassificationTask("intent", ("card", "travel"))    # or task_from_data(loaded)
    task.n_outputs                       # 2: the head's width
    task.loss(logits, targets, config)   # cross-entropy
    task.evaluate(logits, targets)       # {"accuracy": ..., "macro_f1": ..., ...}
    task.predictions(logits)             # ["card", "travel", ...]

Task types live in :data:`TASKS` (type name -> class). A new type is one subclass of
:class:`Task` plus one registry line (``TASKS["mine"] = MyTask`` or :func:`register_task`);
``data.tasks[].task_type`` may then name it. :data:`qattn_hybrid.config.choices.TASK_TYPES` lists
the built-ins without importing torch.

Tasks are saved in a model's ``config.json`` as ``to_dict()`` (``{"name", "task_type", ...}``)
and rebuilt by :func:`task_from_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from qattn_hybrid.tasks import metrics as M
from qattn_hybrid.tasks.metrics import Metric

__all__ = ["TASKS", "ClassificationTask", "RegressionTask", "Task", "register_task",
           "task_class", "task_from_data", "task_from_dict"]


@dataclass(frozen=True)
class Task:
    """One task as the model sees it. Subclasses set ``task_type`` and implement the methods
    that raise NotImplementedError; every task has ``name`` and ``labels`` (class id -> label;
    () when its outputs are not classes)."""

    task_type: ClassVar[str] = ""  # the registry key, saved in config.json
    # targets are classes named by `labels`: raw labels are read as str, a spec's label_map
    # applies, label ids come from the train split and subsets are stratified by label
    categorical: ClassVar[bool] = True
    serving_output: ClassVar[str] = "probabilities"  # | "value": what the serving graph emits
    probe: ClassVar[str] = "logistic"  # | "ridge": the linear probe's estimator
    labels = ()  # (a class attribute: subclasses with classes make it a field)

    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "." in self.name:
            raise ValueError(f"task name must be a non-empty str without '.'; got {self.name!r}")
        object.__setattr__(self, "labels", tuple(self.labels))
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"Task {self.name!r}: labels must be unique; got {list(self.labels)}")

    # ---- built from data, saved and loaded
    @classmethod
    def from_data(cls, data) -> Task:
        """From a loaded :class:`qattn_hybrid.data.loading.TaskData` (its train split)."""
        return cls(data.name, tuple(data.labels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; :func:`task_from_dict` rebuilds the task."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"name": self.name, "task_type": self.task_type, "labels": list(self.labels),
                **{k: v for k, v in fields.items() if k not in ("name", "labels")}}

    # ---- reading data (class-level: no task exists before its data is read)
    @classmethod
    def label_list(cls, train_values: Sequence[Any]) -> tuple[str, ...]:
        """Class id -> label, from the train split's labels: sorted, so every machine agrees."""
        return tuple(sorted(set(train_values)))

    @classmethod
    def encode_targets(cls, spec, path: Path, split: str, values: Sequence[Any],
                       labels: tuple[str, ...]) -> torch.Tensor:
        """A split's labels (after label_map) -> the target tensor (N,): class ids here."""
        to_id = {label: i for i, label in enumerate(labels)}
        missing = next((v for v in values if v not in to_id), None)
        if missing is not None:
            raise KeyError(
                f"Task {spec.name!r}: label {missing!r} in the {split} split of {path} must be a "
                f"label of the train split; got one the train split does not have "
                f"(train labels: {len(to_id)})")
        return torch.tensor([to_id[v] for v in values], dtype=torch.long)

    # ---- the model's side
    @property
    def n_outputs(self) -> int:
        """The width of the task's head."""
        raise NotImplementedError

    def output(self, head: torch.Tensor) -> torch.Tensor:
        """The head's output (B, n_outputs) -> the model's output for the task."""
        return head

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, config=None) -> torch.Tensor:
        """Scalar training loss of the model's outputs; ``config``: the ModelConfig (or None)."""
        raise NotImplementedError

    def targets(self, data_labels: Sequence[str], ids: torch.Tensor) -> torch.Tensor:
        """Data targets -> this task's targets: label ids matched by label name, so a model
        evaluates on any data whose labels it knows."""
        if tuple(data_labels) == self.labels:
            return ids
        return self.label_ids([data_labels[i] for i in ids.tolist()])

    def label_ids(self, labels: Sequence[str]) -> torch.Tensor:
        """(B,) class ids of label strings; a clear error for a label the task does not have."""
        lookup = {label: i for i, label in enumerate(self.labels)}
        missing = sorted({str(lab) for lab in labels if lab not in lookup})
        if missing:
            raise KeyError(f"Task {self.name!r}: labels {missing} are not in its label map. "
                           f"Known labels: {', '.join(self.labels)}")
        return torch.tensor([lookup[lab] for lab in labels], dtype=torch.long)

    # ---- metrics and selection
    def metrics(self) -> dict[str, Metric]:
        """The task's metrics by name; the first is the primary one (model selection)."""
        raise NotImplementedError

    @property
    def primary_metric(self) -> Metric:
        return next(iter(self.metrics().values()))

    @property
    def higher_is_better(self) -> bool:
        return self.primary_metric.higher_is_better

    def evaluate(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Every metric of the model's outputs (N, ...) against targets (N,)."""
        return M.compute_metrics(self.metrics(), outputs, targets)

    def selection_score(self, scores: Mapping[str, float]) -> float:
        """The primary metric of ``scores`` as a higher-is-better number."""
        value = scores[self.primary_metric.name]
        return value if self.higher_is_better else -value

    # ---- reading outputs
    def predictions(self, outputs: torch.Tensor) -> list:
        """What ``model.predict`` returns per row: labels here."""
        return [self.labels[i] for i in outputs.argmax(-1).tolist()]

    def serve(self, outputs: torch.Tensor) -> torch.Tensor:
        """What the serving graph emits: class probabilities (B, C) here (softmax)."""
        return torch.softmax(outputs, -1)

    def ranking_score(self, label: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
        """outputs (N, ...) -> (N,) scores to rank by: P(label) (for two labels, label 1 by
        default). Raises ValueError at once for a label the task cannot rank by."""
        if label is None:
            if len(self.labels) != 2:
                raise ValueError(f"label must name the class to rank by for the "
                                 f"{len(self.labels)}-way task {self.name!r} (one of "
                                 f"{', '.join(self.labels)}); got None")
            column = 1
        elif label not in self.labels:
            raise ValueError(f"label must be one of {', '.join(self.labels)} for task "
                             f"{self.name!r}; got {label!r}")
        else:
            column = self.labels.index(label)
        return lambda outputs: self.serve(outputs)[:, column]


@dataclass(frozen=True)
class ClassificationTask(Task):
    """One label per text among ``labels``: logits (B, C), cross-entropy, accuracy first."""

    task_type: ClassVar[str] = "classification"
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.labels) < 2:
            raise ValueError(f"Task {self.name!r}: a classification task must have at least 2 "
                             f"labels; got {list(self.labels)}")

    @property
    def n_outputs(self) -> int:
        return len(self.labels)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, config=None) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)

    def metrics(self) -> dict[str, Metric]:
        return M.classification_metrics(self.labels)


@dataclass(frozen=True)
class RegressionTask(Task):
    """A number per text. The head predicts z = (y - target_mean) / target_std (the train
    split's mean and population std); outputs, predictions and metrics are y, in the targets'
    own scale; the loss (``config.regression_loss``: MSE or Huber, delta 1) is taken on z."""

    task_type: ClassVar[str] = "regression"
    categorical: ClassVar[bool] = False
    serving_output: ClassVar[str] = "value"
    probe: ClassVar[str] = "ridge"
    target_mean: float = 0.0
    target_std: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.labels:
            raise ValueError(f"Task {self.name!r}: labels must be () for a regression task; "
                             f"got {list(self.labels)}")
        std = self.target_std
        if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
            raise ValueError(f"Task {self.name!r}: target_std must be a finite number > 0; "
                             f"got {std!r}")
        if not (isinstance(self.target_mean, (int, float)) and math.isfinite(self.target_mean)):
            raise ValueError(f"Task {self.name!r}: target_mean must be a finite number; "
                             f"got {self.target_mean!r}")

    @classmethod
    def from_data(cls, data) -> RegressionTask:
        """The train targets' mean and population standard deviation (1 when constant)."""
        y = data.train.labels.double()
        std = float(y.std(unbiased=False)) if len(y) > 1 else 0.0
        return cls(data.name, float(y.mean()), std if std > 0 else 1.0)

    @classmethod
    def label_list(cls, train_values: Sequence[Any]) -> tuple[str, ...]:
        return ()

    @classmethod
    def encode_targets(cls, spec, path: Path, split: str, values: Sequence[Any],
                       labels: tuple[str, ...]) -> torch.Tensor:
        try:
            return torch.tensor([float(y) for y in values], dtype=torch.float32)
        except (TypeError, ValueError):
            bad = next(y for y in values if not _is_number(y))
            raise ValueError(
                f"Task {spec.name!r}: label field {spec.label_field!r} must be a number for a "
                f"regression task; got {bad!r} in {path}") from None

    @property
    def n_outputs(self) -> int:
        return 1

    def standardise(self, y: torch.Tensor) -> torch.Tensor:
        """Targets in their own scale -> z = (y - mean) / std."""
        return (y - self.target_mean) / self.target_std

    def unstandardise(self, z: torch.Tensor) -> torch.Tensor:
        """z -> y = mean + std * z (the inverse of :meth:`standardise`)."""
        return z * self.target_std + self.target_mean

    def output(self, head: torch.Tensor) -> torch.Tensor:
        return self.unstandardise(head.squeeze(-1))  # (B,), in the targets' scale

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, config=None) -> torch.Tensor:
        z = self.standardise(outputs)
        z_true = self.standardise(targets.to(outputs.dtype))
        if getattr(config, "regression_loss", "mse") == "huber":
            return F.huber_loss(z, z_true, delta=1.0)
        return F.mse_loss(z, z_true)

    def targets(self, data_labels: Sequence[str], ids: torch.Tensor) -> torch.Tensor:
        return ids.float()

    def metrics(self) -> dict[str, Metric]:
        return M.regression_metrics()

    def predictions(self, outputs: torch.Tensor) -> list:
        return outputs.tolist()

    def serve(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs  # (B,) predictions

    def ranking_score(self, label: str | None) -> Callable[[torch.Tensor], torch.Tensor]:
        if label is not None:
            raise ValueError(f"label must be None for the regression task {self.name!r}; "
                             f"got {label!r}")
        return lambda outputs: outputs


def _is_number(y: Any) -> bool:
    try:
        float(y)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- the registry
TASKS: dict[str, type[Task]] = {
    "classification": ClassificationTask,
    "regression": RegressionTask,
}


def register_task(cls: type[Task]) -> type[Task]:
    """Add a task type under ``cls.task_type`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Task)) or not cls.task_type:
        raise TypeError(f"a task type must be a Task subclass with a task_type; got {cls!r}")
    TASKS[cls.task_type] = cls
    return cls


def task_class(task_type: str) -> type[Task]:
    """The class registered as ``task_type``; a clear error listing the known types."""
    if task_type not in TASKS:
        raise ValueError(f"task_type must be one of {', '.join(map(repr, TASKS))}; "
                         f"got {task_type!r}")
    return TASKS[task_type]


def task_from_data(data) -> Task:
    """The Task of a loaded :class:`qattn_hybrid.data.loading.TaskData`."""
    return task_class(data.spec.task_type).from_data(data)


def task_from_dict(d: Mapping[str, Any]) -> Task:
    """Rebuild a task saved with :meth:`Task.to_dict` (keys its class does not have, such as
    the target_mean/target_std every task of older files carried, are ignored)."""
    cls = task_class(d["task_type"])
    known = {f.name for f in dataclasses.fields(cls)}
    fields = {k: (tuple(v) if k == "labels" else v) for k, v in d.items() if k in known}
    return cls(**fields)
