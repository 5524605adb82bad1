"""Run configuration: dataclasses for the model, the data, training, loss weighting and task
sampling, read from TOML, YAML or JSON and validated with errors that name the field.

    config = load_config("configs/demo.toml")      # or Config.from_dict({...})
    config.training.lr                              # every field typed and checked

A file has up to five sections, each optional (missing fields keep their defaults)::

    [model]     encoder, attention, n_heads, dropout, value, ...        (ModelConfig)
    [model.circuit]    n_qubits, n_layers, ansatz, conditioning, ...    (circuits.CircuitSpec)
    [model.execution]  qml_device, shots, diff_method, device_options   (circuits.ExecutionSpec)
    [data]      tasks (preset names or tables of TaskSpec fields), ... (DataConfig)
    [training]  epochs, batch_size, lr, seed, output_dir, ...           (TrainingConfig)
    [weighting] method, options                                         (WeightingConfig)
    [sampling]  method, temperature                                     (SamplingConfig)

Unknown sections or keys are errors that list the valid ones (a typo never passes silently);
keys of the older flat layout (``model.n_qubits``, ``model.device``, ``training.device``, ...)
are errors that say where each one moved.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from circuits.spec import CircuitSpec, ExecutionSpec
from qattn_hybrid.config.choices import choices
from qattn_hybrid.config.checks import (
    ConfigError,
    check_choice,
    check_nonempty,
    check_range,
    check_types,
    reject_moved,
    reject_unknown,
)
from qattn_hybrid.config.circuit import (
    circuit_from_table,
    circuit_table,
    execution_from_table,
    moved_keys,
)
from qattn_hybrid.config.presets import get_preset
from qattn_hybrid.config.taskspec import TaskSpec

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "SamplingConfig",
    "TrainingConfig",
    "WeightingConfig",
    "load_config",
    "moved_keys",
    "validate_section",
]

MAX_SEED = 2**63 - 1  # seeds go to torch.manual_seed (int64) and NumPy (mod 2**32)


@dataclass
class ModelConfig:
    """The network: shared encoder, attention pooling per task, one head per task.

    The circuit's settings are two records of their own, validated by themselves:
    ``circuit`` (``[model.circuit]``, a :class:`circuits.CircuitSpec`) and ``execution``
    (``[model.execution]``, a :class:`circuits.ExecutionSpec`). Both may be given as dicts
    (TOML tables); they are converted on construction.
    """

    encoder: str = "minilm"  # "minilm" (bundled all-MiniLM-L6-v2) or a local transformers dir
    freeze_encoder: bool = True  # frozen: token features computed once and cached
    # fine-tuning (freeze_encoder = false) only: also train the token / position embeddings.
    # Off by default: AdamW over MiniLM's 11.7M-parameter word-embedding matrix was a third of
    # a CPU step (0.5 of 1.6 s at batch 32), and the transformer layers above are trained
    finetune_embeddings: bool = False
    # None: float32; "int8": dynamic int8 Linear layers in the frozen encoder (faster encoding,
    # features cached apart; see qattn_hybrid/modeling/quantize.py and RESULTS.md)
    encoder_quantize: str | None = None
    # a smaller encoder (qattn_hybrid/modeling/prune.py, RESULTS.md "Encoder pruning"): keep
    # the first N transformer layers (an int) or the layers a list names; None: all of them
    encoder_layers: int | list[int] | None = None
    # fraction in [0, 1) of each kept layer's attention heads removed (lowest norm of their
    # output-projection columns first); 0: all heads
    prune_heads: float = 0.0
    max_length: int = 64  # tokens per text after truncation
    # hidden states averaged into the token features (0: the embeddings, n: after layer n);
    # None: the last layer. Lower layers mix a sentence's parts less (aspects: [0, 2, 4, 6])
    feature_layers: list[int] | None = None
    # a name in qattn_hybrid.layers.registry.ATTENTIONS; "mean": no attention, the masked mean
    # (0 parameters, the baseline)
    attention: str = "quantum"
    n_heads: int = 1  # attention heads (scores per token)
    # quantum attention: circuits per task and token, each on its own n_qubits angles, their
    # readouts summed into the score (1: one circuit sees the same few angles for every task)
    n_circuits: int = 1
    # [model.circuit]: n_qubits, n_layers, ansatz, conditioning, rotation, reupload, readout;
    # n_tasks is not set here: the model's circuit has one task per data.tasks entry
    circuit: CircuitSpec = field(default_factory=CircuitSpec)
    # [model.execution]: qml_device (PennyLane device name; none: the fast exact default),
    # shots, diff_method, device_options (plugin options for a QPU, never credentials)
    execution: ExecutionSpec = field(default_factory=ExecutionSpec)
    dropout: float = 0.0  # on the pooled features, before each head
    head_hidden: int = 0  # 0: linear heads; >0: one hidden layer of this width (GELU)
    regression_loss: str = "mse"  # | "huber" (delta 1), on standardised regression targets
    # value path of attention pooling: "identity" (pool the features themselves) or "linear"
    # (a D x D projection that starts as the identity); both start as masked mean pooling
    value: str = "identity"
    normalize_pooled: bool = True  # L2-normalise the pooled vector before the heads

    def __post_init__(self) -> None:
        self.circuit = circuit_from_table(self.circuit)
        self.execution = execution_from_table(self.execution)

    @classmethod
    def from_dict(cls, values: dict, section: str = "model") -> ModelConfig:
        """From a ``[model]`` table (with ``circuit`` and ``execution`` sub-tables); keys of
        the old flat layout are refused with an error that says where each one moved."""
        reject_moved(moved_keys(section, values))
        reject_unknown(section, values, [f.name for f in dataclasses.fields(cls)])
        return cls(**values)

    def to_dict(self) -> dict:
        """The ``[model]`` table, with ``circuit`` and ``execution`` as plain sub-tables."""
        data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        data["circuit"] = circuit_table(self.circuit)
        data["execution"] = self.execution.to_dict()
        return data

    def circuit_spec(self, n_tasks: int) -> CircuitSpec:
        """The model's circuit: ``circuit`` with one task per task of the model."""
        return dataclasses.replace(self.circuit, n_tasks=n_tasks)

    def _check(self, section: str) -> None:
        check_choice(section, "attention", self.attention, choices("attention"))
        check_choice(section, "value", self.value, ("identity", "linear"))
        if self.encoder_quantize is not None:
            check_choice(section, "encoder_quantize", self.encoder_quantize, ("int8",))
            if not self.freeze_encoder:
                raise ConfigError(f"{section}.encoder_quantize must be None when "
                                  f"freeze_encoder is false (a quantized encoder is not "
                                  f"trained); got {self.encoder_quantize!r}")
        self._check_pruning(section)
        check_range(section, "max_length", self.max_length, low=2)  # [CLS] and [SEP] at least
        for name in ("n_heads", "n_circuits"):
            check_range(section, name, getattr(self, name), low=1)
        check_range(section, "head_hidden", self.head_hidden, low=0)
        layers = self.feature_layers  # the range is checked against the encoder it loads
        if layers is not None and (not isinstance(layers, list) or not layers or any(
                isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in layers)
                or len(set(layers)) != len(layers)):
            raise ConfigError(f"{section}.feature_layers must be a non-empty list of distinct "
                              f"hidden-state indices >= 0 (0 = the embeddings), or absent for "
                              f"the last layer; got {layers!r}")
        check_choice(section, "regression_loss", self.regression_loss, ("mse", "huber"))
        check_range(section, "dropout", self.dropout, low=0, high=1, high_open=True)
        check_nonempty(section, "encoder", self.encoder)
        if self.circuit.n_tasks != 1:
            raise ConfigError(f"{section}.circuit.n_tasks must be 1 (the model sets it to its "
                              f"number of tasks); got {self.circuit.n_tasks}")

    def _check_pruning(self, section: str) -> None:
        """encoder_layers and prune_heads (the layer range is checked against the encoder)."""
        layers = self.encoder_layers
        if layers is not None and (
                (isinstance(layers, int) and layers < 1) or (isinstance(layers, list) and (
                    not layers or any(isinstance(i, bool) or not isinstance(i, int) or i < 0
                                      for i in layers)
                    or any(a >= b for a, b in zip(layers, layers[1:]))))):
            raise ConfigError(f"{section}.encoder_layers must be a number of layers >= 1 (the "
                              f"first ones are kept), a non-empty list of increasing layer "
                              f"indices >= 0, or absent for all; got {layers!r}")
        check_range(section, "prune_heads", self.prune_heads, low=0, high=1, high_open=True)


@dataclass
class DataConfig:
    """The tasks: preset names or tables of TaskSpec fields (see qattn_hybrid.config.taskspec)."""

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
            check_range(section, "max_examples", self.max_examples, low=1)
        check_range(section, "seed", self.seed, low=0, high=MAX_SEED)
        self.task_specs()  # every table converts to a valid TaskSpec

    def task_specs(self) -> list[TaskSpec]:
        """The tasks as TaskSpecs: presets resolved, overrides and max_examples applied."""
        specs = []
        valid = ["preset"] + [f.name for f in dataclasses.fields(TaskSpec)]
        for i, task in enumerate(self.tasks):
            where = f"data.tasks[{i}]"
            table = {"preset": task} if isinstance(task, str) else dict(task)
            reject_unknown(where, table, valid)
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
    # AdamW learning rate and weight decay of the task heads; None: lr / weight_decay. 0 with
    # init_heads = "probe": the heads stay the fitted probes and only the attention trains
    head_lr: float | None = None
    head_weight_decay: float | None = None
    encoder_lr: float = 2e-5  # AdamW learning rate of the encoder when it is fine-tuned
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0  # max gradient norm; None: no clipping
    # fine-tuned encoder only: batches of similar length, each task's rows cut into chunks of
    # this many batches sorted by length, batches shuffled (seeded); 0: plain random batches
    length_buckets: int = 50
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
    torch_device: str = "cpu"  # torch device of the model and features ("cpu", "cuda", "cuda:1")
    keep_checkpoints: int = 2  # most recent resumable checkpoints kept (plus the best)
    progress: bool | None = None  # tqdm bars; None: only when stderr is a terminal
    num_threads: int | None = None  # torch.set_num_threads; None: leave torch's default
    # batches the frozen encoder encodes at once while it fills the feature cache, each in its
    # own thread with one torch thread (qattn_hybrid.training.warmup); None: 1
    encode_threads: int | None = None
    # experiment tracking (qattn_hybrid.training.tracking): None (off) or "tensorboard" (per-epoch
    # scalars and the config as text / hparams); events go to tracking_dir, None:
    # <output_dir>/tensorboard. Only rank 0 writes
    tracking: str | None = None
    tracking_dir: str | None = None

    def _check(self, section: str) -> None:
        self._check_tracking(section)
        for name in ("epochs", "batch_size", "eval_batch_size", "keep_checkpoints",
                     "tasks_per_step"):
            check_range(section, name, getattr(self, name), low=1)
        for name in ("lr", "encoder_lr"):
            check_range(section, name, getattr(self, name), low=0, low_open=True)
        check_range(section, "weight_decay", self.weight_decay, low=0)
        check_choice(section, "schedule", self.schedule, ("cosine", "linear", "constant"))
        check_range(section, "warmup", self.warmup, low=0, high=1, high_open=True)
        check_choice(section, "selection", self.selection, ("joint", "per_task"))
        check_choice(section, "init_heads", self.init_heads, ("random", "probe"))
        for name in ("head_lr", "head_weight_decay"):
            if getattr(self, name) is not None:
                check_range(section, name, getattr(self, name), low=0)
        for name in ("grad_clip",):
            if getattr(self, name) is not None:
                check_range(section, name, getattr(self, name), low=0, low_open=True)
        check_range(section, "length_buckets", self.length_buckets, low=0)
        for name in ("steps_per_epoch", "num_threads", "encode_threads"):
            if getattr(self, name) is not None:
                check_range(section, name, getattr(self, name), low=1)
        if self.patience is not None:
            check_range(section, "patience", self.patience, low=1)
        check_range(section, "seed", self.seed, low=0, high=MAX_SEED)
        check_nonempty(section, "output_dir", self.output_dir)
        check_nonempty(section, "monitor", self.monitor)

    def _check_tracking(self, section: str) -> None:
        if self.tracking is not None and self.tracking not in choices("tracking"):
            raise ConfigError(f"{section}.tracking must be one of "
                              f"{', '.join(map(repr, choices('tracking')))}, or None (off); "
                              f"got {self.tracking!r}")
        if self.tracking_dir is not None:
            check_nonempty(section, "tracking_dir", self.tracking_dir)
            if self.tracking is None:
                raise ConfigError(f"{section}.tracking_dir is set but {section}.tracking is "
                                  f"None, so nothing would be written there; set tracking = "
                                  f"'tensorboard' or remove tracking_dir; got tracking_dir = "
                                  f"{self.tracking_dir!r}")


@dataclass
class WeightingConfig:
    """How task losses are combined (see qattn_hybrid.training.weighting)."""

    method: str = "equal"  # equal | uncertainty | dwa | gradnorm | a torchjd method
    options: dict = field(default_factory=dict)  # keyword arguments of the method

    def _check(self, section: str) -> None:
        check_choice(section, "method", self.method, choices("weighting"))


@dataclass
class SamplingConfig:
    """Which task each training step draws (see qattn_hybrid.training.sampling.SAMPLERS)."""

    method: str = "temperature"  # proportional | temperature | round_robin
    temperature: float = 2.0  # p(task) ∝ n^(1/temperature), for method = "temperature"

    def _check(self, section: str) -> None:
        check_choice(section, "method", self.method, choices("sampling"))
        check_range(section, "temperature", self.temperature, low=0, low_open=True)


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
        reject_unknown("config", data, SECTIONS)
        reject_moved([note for name in SECTIONS if isinstance(data.get(name), dict)
                      for note in moved_keys(name, data[name])])  # every section at once
        sections = {}
        for name, section_cls in SECTIONS.items():
            values = data.get(name, {})
            if not isinstance(values, dict):
                raise ConfigError(f"{name} must be a table of fields; got {values!r}")
            if section_cls is ModelConfig:
                sections[name] = ModelConfig.from_dict(values, name)
                continue
            reject_unknown(name, values, [f.name for f in dataclasses.fields(section_cls)])
            sections[name] = section_cls(**values)
        return cls(**sections)

    def to_dict(self) -> dict:
        """Plain nested dicts (JSON/TOML-able); `Config.from_dict` rebuilds an equal config."""
        data = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS
                if name != "model"}
        return {"model": self.model.to_dict(), **data}

    def replace(self, **sections: dict) -> Config:
        """A copy with fields overridden per section: `config.replace(training={"epochs": 1})`;
        a sub-table is merged (`replace(model={"circuit": {"n_qubits": 3}})` keeps the rest)."""
        data = self.to_dict()
        for name, changes in sections.items():
            reject_unknown("config", {name: None}, SECTIONS)
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(data[name].get(key), dict):
                    value = {**data[name][key], **value}
                data[name][key] = value
        return Config.from_dict(data)


def validate_section(name: str, section) -> None:
    """Check one section's field types and values (e.g. a ModelConfig read back from a saved
    model); raises ConfigError naming the field as ``name.field``."""
    check_types(name, section)
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
