"""Run configuration: dataclasses for the model, the data, training, loss weighting and task
sampling, read from TOML, YAML or JSON and validated with errors that name the field.

    config = load_config("configs/demo.toml")      # or Config.from_dict({...})
    config.training.lr                              # every field typed and checked

A file has up to five sections, each optional (missing fields keep their defaults)::

    [model]     encoder, attention, qubits, layers, conditioning, ...   (ModelConfig)
    [data]      tasks (preset names or tables of TaskSpec fields), ... (DataConfig)
    [training]  epochs, batch_size, lr, seed, output_dir, ...           (TrainingConfig)
    [weighting] method, options                                         (WeightingConfig)
    [sampling]  method, temperature                                     (SamplingConfig)

Unknown sections or keys are errors that list the valid ones (a typo never passes silently).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

from circuits.plugins import check_device_options
from circuits.spec import Ansatz, Conditioning, Readout, Rotation
from qattn_hybrid.choices import choices
from qattn_hybrid.data import TaskSpec, get_preset

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "SamplingConfig",
    "TrainingConfig",
    "WeightingConfig",
    "load_config",
    "validate_section",
]

# PennyLane's differentiation methods (qml.QNode's diff_method), checked before a QNode is built
DIFF_METHODS = ("best", "device", "backprop", "adjoint", "parameter-shift", "hadamard",
                "reversed-hadamard", "direct-hadamard", "reversed-direct-hadamard",
                "finite-diff", "spsa")
MAX_SEED = 2**63 - 1  # seeds go to torch.manual_seed (int64) and NumPy (mod 2**32)


class ConfigError(ValueError):
    """An invalid configuration value, key or file; the message names the field."""


@dataclass
class ModelConfig:
    """The network: shared encoder, attention pooling per task, one head per task."""

    encoder: str = "minilm"  # "minilm" (bundled all-MiniLM-L6-v2) or a local transformers dir
    freeze_encoder: bool = True  # frozen: token features computed once and cached
    # None: float32; "int8": dynamic int8 Linear layers in the frozen encoder (faster encoding,
    # features cached apart; see qattn_hybrid/encoder_quantize.py and RESULTS.md)
    encoder_quantize: str | None = None
    max_length: int = 64  # tokens per text after truncation
    # a name in qattn_hybrid.attentions.ATTENTIONS; "mean": no attention, the masked mean
    # (0 parameters, the baseline)
    attention: str = "quantum"
    n_qubits: int = 4  # wires of the attention circuit
    n_layers: int = 2  # variational layers
    n_heads: int = 1  # attention heads (scores per token)
    ansatz: str = "hardware_efficient"  # | strongly_entangling | no_entanglement (ablation)
    conditioning: str = "per_task_weights"  # | task_rotations
    rotation: str = "Y"  # embedding axis
    reupload: bool = False  # re-embed before every layer
    readout: str = "z"  # | z_zz
    device: str | None = None  # PennyLane device name (qattn.torch, default.qubit, ...);
    #                            None: QuantumAttention's default
    shots: int | None = None  # None: exact expectation values
    # plugin options for a QPU (device_arn, s3_bucket, backend, execution_mode, ...); never
    # credentials: those stay in the provider's own configuration (see README, QPU section)
    device_options: dict = field(default_factory=dict)
    diff_method: str = "best"
    dropout: float = 0.0  # on the pooled features, before each head
    head_hidden: int = 0  # 0: linear heads; >0: one hidden layer of this width (GELU)
    regression_loss: str = "mse"  # | "huber" (delta 1), on standardised regression targets
    # value path of attention pooling: "identity" (pool the features themselves) or "linear"
    # (a D x D projection that starts as the identity); both start as masked mean pooling
    value: str = "identity"
    normalize_pooled: bool = True  # L2-normalise the pooled vector before the heads

    def _check(self, section: str) -> None:
        _check_choice(section, "attention", self.attention, choices("attention"))
        _check_choice(section, "value", self.value, ("identity", "linear"))
        if self.encoder_quantize is not None:
            _check_choice(section, "encoder_quantize", self.encoder_quantize, ("int8",))
            if not self.freeze_encoder:
                raise ConfigError(f"{section}.encoder_quantize must be None when "
                                  f"freeze_encoder is false (a quantized encoder is not "
                                  f"trained); got {self.encoder_quantize!r}")
        for name in ("max_length", "n_qubits", "n_layers", "n_heads"):
            _check_range(section, name, getattr(self, name), low=1)
        _check_range(section, "head_hidden", self.head_hidden, low=0)
        _check_choice(section, "regression_loss", self.regression_loss, ("mse", "huber"))
        _check_range(section, "dropout", self.dropout, low=0, high=1, high_open=True)
        if self.shots is not None:
            _check_range(section, "shots", self.shots, low=1)
        _check_nonempty(section, "encoder", self.encoder)
        if self.device is not None:
            _check_nonempty(section, "device", self.device)
        _check_choice(section, "diff_method", self.diff_method, DIFF_METHODS)
        for name, enum in (("ansatz", Ansatz), ("conditioning", Conditioning),
                           ("rotation", Rotation), ("readout", Readout)):
            _check_choice(section, name, getattr(self, name), [m.value for m in enum])
        try:  # no secrets, and only options known not to be secret, whatever the attention
            check_device_options(self.device, self.device_options, self.shots)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{section}.{err}") from None


@dataclass
class DataConfig:
    """The tasks: preset names or tables of TaskSpec fields (see qattn_hybrid.data)."""

    # Each entry: a preset name ("clinc_intent") or a table {name, file, text_field, ...};
    # a table may say preset = "clinc_intent" and override fields (e.g. max_examples).
    tasks: list = field(default_factory=lambda: ["clinc_intent", "fin_sentiment"])
    max_examples: int | None = None  # default per-split row cap for tasks that set none
    # folder of the token-feature cache, shared by runs with the same encoder and max_length;
    # None: features are kept in memory only, so every run encodes every text again
    cache_dir: str | None = None
    seed: int = 0  # seed of the max_examples subsets

    def _check(self, section: str) -> None:
        if not self.tasks:
            raise ConfigError(f"{section}.tasks must name at least one task; got []")
        for i, task in enumerate(self.tasks):
            if not isinstance(task, (str, dict)) or (isinstance(task, str) and not task):
                raise ConfigError(f"{section}.tasks[{i}] must be a preset name or a table of "
                                  f"task fields; got {task!r}")
        if self.max_examples is not None:
            _check_range(section, "max_examples", self.max_examples, low=1)
        _check_range(section, "seed", self.seed, low=0, high=MAX_SEED)
        self.task_specs()  # every table converts to a valid TaskSpec

    def task_specs(self) -> list[TaskSpec]:
        """The tasks as TaskSpecs: presets resolved, overrides and max_examples applied."""
        specs = []
        valid = ["preset"] + [f.name for f in dataclasses.fields(TaskSpec)]
        for i, task in enumerate(self.tasks):
            where = f"data.tasks[{i}]"
            table = {"preset": task} if isinstance(task, str) else dict(task)
            _reject_unknown(where, table, valid)
            preset = table.pop("preset", None)
            try:
                if preset is not None:
                    spec = get_preset(preset).replace(**table)
                else:
                    spec = TaskSpec(**table)
            except (KeyError, TypeError, ValueError) as err:
                msg = err.args[0] if err.args else str(err)
                raise ConfigError(f"{where}: {msg}") from None
            if spec.max_examples is None and self.max_examples is not None:
                spec = spec.replace(max_examples=self.max_examples, seed=self.seed)
            specs.append(spec)
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"data.tasks names must be unique; got {', '.join(dupes)} twice")
        return specs


@dataclass
class TrainingConfig:
    """The optimisation loop."""

    epochs: int = 15
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 1e-2  # AdamW learning rate (attention and heads), peak of the schedule
    schedule: str = "cosine"  # learning rate after warm-up: "cosine" | "linear" | "constant"
    warmup: float = 0.05  # fraction of all steps with a linear warm-up from ~0 to lr
    encoder_lr: float = 2e-5  # AdamW learning rate of the encoder when it is fine-tuned
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0  # max gradient norm; None: no clipping
    steps_per_epoch: int | None = None  # sampler draws per epoch; None: every train row ~once
    tasks_per_step: int = 1  # sampler draws per optimizer step (>1: the weighting sees several
    #                          tasks at once, as gradnorm and the torchjd methods need)
    patience: int | None = None  # epochs without improvement before stopping; None: never
    monitor: str = "mean"  # "mean" of the tasks' main metrics, or one task's name
    # "joint": one best epoch for the whole model (by monitor); "per_task": each task is
    # evaluated with the whole model as it was at that task's own best validation epoch
    selection: str = "joint"
    # "random": nn.Linear's init; "probe": every head starts as its task's fitted linear probe
    # (linear probing then training, LP-FT), so the model starts at the probe's predictions
    init_heads: str = "random"
    seed: int = 0
    output_dir: str = "runs/qattn"
    device: str = "cpu"  # torch device of the model and features ("cpu", "cuda", "cuda:1")
    keep_checkpoints: int = 2  # most recent resumable checkpoints kept (plus the best)
    progress: bool | None = None  # tqdm bars; None: only when stderr is a terminal
    num_threads: int | None = None  # torch.set_num_threads; None: leave torch's default

    def _check(self, section: str) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "keep_checkpoints",
                     "tasks_per_step"):
            _check_range(section, name, getattr(self, name), low=1)
        for name in ("lr", "encoder_lr"):
            _check_range(section, name, getattr(self, name), low=0, low_open=True)
        _check_range(section, "weight_decay", self.weight_decay, low=0)
        _check_choice(section, "schedule", self.schedule, ("cosine", "linear", "constant"))
        _check_range(section, "warmup", self.warmup, low=0, high=1, high_open=True)
        _check_choice(section, "selection", self.selection, ("joint", "per_task"))
        _check_choice(section, "init_heads", self.init_heads, ("random", "probe"))
        for name in ("grad_clip",):
            if getattr(self, name) is not None:
                _check_range(section, name, getattr(self, name), low=0, low_open=True)
        for name in ("steps_per_epoch", "num_threads"):
            if getattr(self, name) is not None:
                _check_range(section, name, getattr(self, name), low=1)
        if self.patience is not None:
            _check_range(section, "patience", self.patience, low=1)
        _check_range(section, "seed", self.seed, low=0, high=MAX_SEED)
        _check_nonempty(section, "output_dir", self.output_dir)
        _check_nonempty(section, "monitor", self.monitor)


@dataclass
class WeightingConfig:
    """How task losses are combined (see qattn_hybrid.weighting)."""

    method: str = "equal"  # equal | uncertainty | dwa | gradnorm | a torchjd method
    options: dict = field(default_factory=dict)  # keyword arguments of the method

    def _check(self, section: str) -> None:
        _check_choice(section, "method", self.method, choices("weighting"))


@dataclass
class SamplingConfig:
    """Which task each training step draws (see qattn_hybrid.sampling.SAMPLERS)."""

    method: str = "temperature"  # proportional | temperature | round_robin
    temperature: float = 2.0  # p(task) ∝ n^(1/temperature), for method = "temperature"

    def _check(self, section: str) -> None:
        _check_choice(section, "method", self.method, choices("sampling"))
        _check_range(section, "temperature", self.temperature, low=0, low_open=True)


SECTIONS = {"model": ModelConfig, "data": DataConfig, "training": TrainingConfig,
            "weighting": WeightingConfig, "sampling": SamplingConfig}


@dataclass
class Config:
    """A whole run: one object per section."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check types and values of every field; raises ConfigError naming the field."""
        for name, cls in SECTIONS.items():
            section = getattr(self, name)
            if not isinstance(section, cls):
                raise ConfigError(f"{name} must be a {cls.__name__}; got {type(section).__name__}")
            validate_section(name, section)

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        """Build from nested dicts ({"training": {"lr": 0.01}, ...}); unknown keys are errors."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a table of sections; got {type(data).__name__}")
        _reject_unknown("config", data, SECTIONS)
        sections = {}
        for name, section_cls in SECTIONS.items():
            values = data.get(name, {})
            if not isinstance(values, dict):
                raise ConfigError(f"{name} must be a table of fields; got {values!r}")
            _reject_unknown(name, values, [f.name for f in dataclasses.fields(section_cls)])
            sections[name] = section_cls(**values)
        return cls(**sections)

    def to_dict(self) -> dict:
        """Plain nested dicts (JSON/TOML-able); `Config.from_dict` rebuilds an equal config."""
        return dataclasses.asdict(self)

    def replace(self, **sections: dict) -> Config:
        """A copy with fields overridden per section: `config.replace(training={"epochs": 1})`."""
        data = self.to_dict()
        for name, changes in sections.items():
            _reject_unknown("config", {name: None}, SECTIONS)
            data[name].update(changes)
        return Config.from_dict(data)


def validate_section(name: str, section) -> None:
    """Check one section's field types and values (e.g. a ModelConfig read back from a saved
    model); raises ConfigError naming the field as ``name.field``."""
    _check_types(name, section)
    section._check(name)


def load_config(path: str | Path) -> Config:
    """Read a .toml, .yaml/.yml or .json file into a validated Config."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file must end in .toml, .yaml, .yml or .json; got {path}")
    except ConfigError:
        raise
    except Exception as err:  # tomllib / yaml / json syntax errors
        raise ConfigError(f"config file {path} could not be parsed: {err}") from None
    return Config.from_dict(data)


# --------------------------------------------------------------------------- checks
def _reject_unknown(where: str, values: dict, valid) -> None:
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"Unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))} in {where}. "
                          f"Valid keys: {', '.join(valid)}")


def _check_types(section: str, obj) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not _matches(value, hints[f.name]):
            raise ConfigError(f"{section}.{f.name} must be {_type_name(hints[f.name])}; "
                              f"got {type(value).__name__} {value!r}")


def _matches(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:  # ints are fine where a float is expected (lr = 1 in TOML)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def _type_name(hint) -> str:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return {int: "an int", float: "a number", bool: "a bool", str: "a str", list: "a list",
            dict: "a table"}.get(hint, getattr(hint, "__name__", str(hint)))


def _check_range(section: str, name: str, value, low=None, high=None, low_open=False,
                 high_open=False) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{section}.{name} must be finite; got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigError(f"{section}.{name} must be {'>' if low_open else '>='} {low}; "
                          f"got {value}")
    if high is not None and (value >= high if high_open else value > high):
        raise ConfigError(f"{section}.{name} must be {'<' if high_open else '<='} {high}; "
                          f"got {value}")


def _check_choice(section: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{section}.{name} must be one of {', '.join(map(repr, choices))}; "
                          f"got {value!r}")


def _check_nonempty(section: str, name: str, value: str) -> None:
    if not value:
        raise ConfigError(f"{section}.{name} must be a non-empty str; got {value!r}")
