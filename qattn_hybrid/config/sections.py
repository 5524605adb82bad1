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
from functools import partial
from pathlib import Path

from circuits.spec import CircuitSpec, ExecutionSpec
from qattn_hybrid.config.checks import (
    ConfigError,
    bounded,
    check_bounds,
    check_types,
    reject_moved,
    reject_unknown,
)
from qattn_hybrid.config.choices import choices
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

    # "minilm" (bundled all-MiniLM-L6-v2) or a local transformers dir
    encoder: str = bounded("minilm", nonempty=True)
    freeze_encoder: bool = True  # frozen: token features computed once and cached
    # fine-tuning (freeze_encoder = false) only: also train the token / position embeddings.
    # Off by default: AdamW over MiniLM's 11.7M-parameter word-embedding matrix was a third of
    # a CPU step (0.5 of 1.6 s at batch 32), and the transformer layers above are trained
    finetune_embeddings: bool = False
    # None: float32; "int8": dynamic int8 Linear layers in the frozen encoder (faster encoding,
    # features cached apart; see qattn_hybrid/modeling/quantize.py and RESULTS.md)
    encoder_quantize: str | None = bounded(None, one_of=("int8",))
    # a smaller encoder (qattn_hybrid/modeling/prune.py, RESULTS.md "Encoder pruning"): keep
    # the first N transformer layers (an int) or the layers a list names; None: all of them
    encoder_layers: int | list[int] | None = None
    # fraction in [0, 1) of each kept layer's attention heads removed (lowest norm of their
    # output-projection columns first); 0: all heads
    prune_heads: float = bounded(0.0, low=0, high=1, high_open=True)
    max_length: int = bounded(64, low=2)  # tokens per text after truncation ([CLS], [SEP])
    # hidden states averaged into the token features (0: the embeddings, n: after layer n);
    # None: the last layer. Lower layers mix a sentence's parts less (aspects: [0, 2, 4, 6])
    feature_layers: list[int] | None = None
    # "bigru": a bidirectional GRU shared by the tasks re-reads the tokens in order before the
    # attention scores and pools them, so a token's vector carries its neighbours (a frozen
    # encoder's do not say which aspect a sentiment is about); None: the features as they are
    mixer: str | None = bounded(None, one_of=partial(choices, "mixer"))
    mixer_units: int = bounded(128, low=1)  # GRU units per direction (2 x units per token)
    # a name in qattn_hybrid.layers.registry.ATTENTIONS; "mean": no attention, the masked mean
    # (0 parameters, the baseline)
    attention: str = bounded("quantum", one_of=partial(choices, "attention"))
    n_heads: int = bounded(1, low=1)  # attention heads (scores per token)
    # quantum attention: circuits per task and token, each on its own n_qubits angles, their
    # readouts summed into the score (1: one circuit sees the same few angles for every task)
    n_circuits: int = bounded(1, low=1)
    # [model.circuit]: n_qubits, n_layers, ansatz, conditioning, rotation, reupload, readout;
    # n_tasks is not set here: the model's circuit has one task per data.tasks entry
    circuit: CircuitSpec = field(default_factory=CircuitSpec)
    # [model.execution]: qml_device (PennyLane device name; none: the fast exact default),
    # shots, diff_method, device_options (plugin options for a QPU, never credentials)
    execution: ExecutionSpec = field(default_factory=ExecutionSpec)
    # on the pooled features, before each head
    dropout: float = bounded(0.0, low=0, high=1, high_open=True)
    # 0: linear heads; >0: one hidden layer of this width (GELU)
    head_hidden: int = bounded(0, low=0)
    # "mse" | "huber" (delta 1), on standardised regression targets
    regression_loss: str = bounded("mse", one_of=("mse", "huber"))
    # value path of attention pooling: "identity" (pool the features themselves) or "linear"
    # (a D x D projection that starts as the identity); both start as masked mean pooling
    value: str = bounded("identity", one_of=("identity", "linear"))
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
        """What the fields' bounds cannot say (read by :func:`validate_section` after them)."""
        if self.encoder_quantize is not None and not self.freeze_encoder:
            raise ConfigError(f"{section}.encoder_quantize must be None when freeze_encoder "
                              f"is false (a quantized encoder is not trained); got "
                              f"{self.encoder_quantize!r}")
        self._check_encoder_layers(section)
        layers = self.feature_layers  # the range is checked against the encoder it loads
        if layers is not None and (not isinstance(layers, list) or not layers or any(
                isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in layers)
                or len(set(layers)) != len(layers)):
            raise ConfigError(f"{section}.feature_layers must be a non-empty list of distinct "
                              f"hidden-state indices >= 0 (0 = the embeddings), or absent for "
                              f"the last layer; got {layers!r}")
        if self.circuit.n_tasks != 1:
            raise ConfigError(f"{section}.circuit.n_tasks must be 1 (the model sets it to its "
                              f"number of tasks); got {self.circuit.n_tasks}")

    def _check_encoder_layers(self, section: str) -> None:
        """A count or a list of layer indices (their range is checked against the encoder)."""
        layers = self.encoder_layers
        if layers is not None and (
                (isinstance(layers, int) and layers < 1) or (isinstance(layers, list) and (
                    not layers or any(isinstance(i, bool) or not isinstance(i, int) or i < 0
                                      for i in layers)
                    or any(a >= b for a, b in zip(layers, layers[1:]))))):
            raise ConfigError(f"{section}.encoder_layers must be a number of layers >= 1 (the "
                              f"first ones are kept), a non-empty list of increasing layer "
                              f"indices >= 0, or absent for all; got {layers!r}")


@dataclass
class DataConfig:
    """The tasks: preset names or tables of TaskSpec fields (see qattn_hybrid.config.taskspec)."""

    # Each entry: a preset name ("clinc_intent") or a table {name, file, text_field, ...};
    # a table may say preset = "clinc_intent" and override fields (e.g. max_examples).
    tasks: list = field(default_factory=lambda: ["clinc_intent", "fin_sentiment"])
    # default per-split row cap for tasks that set none
    max_examples: int | None = bounded(None, low=1)
    # folder of the token-feature cache, shared by runs with the same encoder and max_length;
    # None: features are kept in memory only, so every run encodes every text again
    cache_dir: str | None = bounded(None, nonempty=True)
    seed: int = bounded(0, low=0, high=MAX_SEED)  # seed of the max_examples subsets

    def _check(self, section: str) -> None:
        if not self.tasks:
            raise ConfigError(f"{section}.tasks must name at least one task; got []")
        for i, task in enumerate(self.tasks):
            if not isinstance(task, (str, dict)) or (isinstance(task, str) and not task):
                raise ConfigError(f"{section}.tasks[{i}] must be a preset name or a table of "
                                  f"task fields; got {task!r}")
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

    epochs: int = bounded(15, low=1)
    batch_size: int = bounded(64, low=1)
    eval_batch_size: int = bounded(256, low=1)
    # AdamW learning rate (attention and heads), peak of the schedule
    lr: float = bounded(1e-2, low=0, low_open=True)
    # learning rate after warm-up: "cosine" | "linear" | "constant"
    schedule: str = bounded("cosine", one_of=("cosine", "linear", "constant"))
    # fraction of all steps with a linear warm-up from ~0 to lr
    warmup: float = bounded(0.05, low=0, high=1, high_open=True)
    # AdamW learning rate and weight decay of the task heads; None: lr / weight_decay. 0 with
    # init_heads = "probe": the heads stay the fitted probes and only the attention trains
    head_lr: float | None = bounded(None, low=0)
    head_weight_decay: float | None = bounded(None, low=0)
    # AdamW learning rate of the encoder when it is fine-tuned
    encoder_lr: float = bounded(2e-5, low=0, low_open=True)
    weight_decay: float = bounded(0.01, low=0)
    # max gradient norm; None: no clipping
    grad_clip: float | None = bounded(1.0, low=0, low_open=True)
    # fine-tuned encoder only: batches of similar length, each task's rows cut into chunks of
    # this many batches sorted by length, batches shuffled (seeded); 0: plain random batches
    length_buckets: int = bounded(50, low=0)
    # sampler draws per epoch; None: every train row ~once
    steps_per_epoch: int | None = bounded(None, low=1)
    # sampler draws per optimizer step (>1: the weighting sees several tasks at once, as
    # gradnorm and the torchjd methods need)
    tasks_per_step: int = bounded(1, low=1)
    # epochs without improvement before stopping; None: never
    patience: int | None = bounded(None, low=1)
    # "mean" of the tasks' main metrics, or one task's name
    monitor: str = bounded("mean", nonempty=True)
    # "joint": one best epoch for the whole model (by monitor); "per_task": each task is
    # evaluated with the whole model as it was at that task's own best validation epoch
    selection: str = bounded("joint", one_of=("joint", "per_task"))
    # "random": nn.Linear's init; "probe": every head starts as its task's fitted linear probe
    # (linear probing then training, LP-FT), so the model starts at the probe's predictions
    init_heads: str = bounded("random", one_of=("random", "probe"))
    seed: int = bounded(0, low=0, high=MAX_SEED)
    output_dir: str = bounded("runs/qattn", nonempty=True)
    # torch device of the model and features ("cpu", "cuda", "cuda:1")
    torch_device: str = bounded("cpu", nonempty=True)
    # most recent resumable checkpoints kept (plus the best)
    keep_checkpoints: int = bounded(2, low=1)
    progress: bool | None = None  # tqdm bars; None: only when stderr is a terminal
    # torch.set_num_threads; None: leave torch's default
    num_threads: int | None = bounded(None, low=1)
    # batches the frozen encoder encodes at once while it fills the feature cache, each in its
    # own thread with one torch thread (qattn_hybrid.training.warmup); None: 1
    encode_threads: int | None = bounded(None, low=1)
    # experiment tracking (qattn_hybrid.training.tracking): None (off) or "tensorboard" (per-epoch
    # scalars and the config as text / hparams); events go to tracking_dir, None:
    # <output_dir>/tensorboard. Only rank 0 writes
    tracking: str | None = None
    tracking_dir: str | None = bounded(None, nonempty=True)

    def _check(self, section: str) -> None:
        """tracking (None is a choice of its own) and tracking_dir (only with tracking)."""
        if self.tracking is not None and self.tracking not in choices("tracking"):
            raise ConfigError(f"{section}.tracking must be one of "
                              f"{', '.join(map(repr, choices('tracking')))}, or None (off); "
                              f"got {self.tracking!r}")
        if self.tracking_dir is not None and self.tracking is None:
            raise ConfigError(f"{section}.tracking_dir is set but {section}.tracking is None, "
                              f"so nothing would be written there; set tracking = "
                              f"'tensorboard' or remove tracking_dir; got tracking_dir = "
                              f"{self.tracking_dir!r}")


@dataclass
class WeightingConfig:
    """How task losses are combined (see qattn_hybrid.training.weighting)."""

    # equal | uncertainty | dwa | gradnorm | a torchjd method
    method: str = bounded("equal", one_of=partial(choices, "weighting"))
    options: dict = field(default_factory=dict)  # keyword arguments of the method

    def _check(self, section: str) -> None:
        """Nothing beyond the fields' bounds."""


@dataclass
class SamplingConfig:
    """Which task each training step draws (see qattn_hybrid.training.sampling.SAMPLERS)."""

    # proportional | temperature | round_robin
    method: str = bounded("temperature", one_of=partial(choices, "sampling"))
    # p(task) ∝ n^(1/temperature), for method = "temperature"
    temperature: float = bounded(2.0, low=0, low_open=True)

    def _check(self, section: str) -> None:
        """Nothing beyond the fields' bounds."""


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
    model); raises ConfigError naming the field as ``name.field``: first the types, then
    each field's bounds (beside it in the dataclass), then what relates fields (``_check``)."""
    check_types(name, section)
    check_bounds(name, section)
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
