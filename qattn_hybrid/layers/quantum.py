"""Task-conditioned quantum attention pooling.

    x (B, T, D) ─Linear─> π·tanh ─> angles (B, T, G·Q)
    angles, task ─G circuits of the task (one batched call)─> ⟨Z⟩ (B, T, G·n_out)
    ⟨Z⟩ ─Linear─> scores (B, H, T) ─mask, softmax over T─> weights (B, H, T)
    weights · value(x) split in H heads ─> pooled (B, D)

G = ``n_circuits`` (default 1): each token is read by G circuits per task, circuit g on its own
Q angles and with its own task-conditioned weights; the readout sums their ⟨Z⟩ into the score.
The angle map is shared by the tasks (a key) and the circuits are the task's own (its query),
so with G > 1 tasks can look at G·Q directions of the features instead of the same Q. The G
circuits of task k run as conditioning sets k·G ... k·G + G - 1 of one circuit (``spec``).

Angles are squashed with π·tanh: bounded to (-π, π), so one turn of the rotation is never
exceeded (no wrap-around where far-apart features land on the same angle), smooth, and with
a non-zero gradient everywhere (unlike clamping).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
from torch import nn

from circuits import (CircuitSpec, ExecutionSpec, default_device, expectations, init_parameters,
                      select)
from circuits.fold import (check_foldable, fold_coefficients, resolve_exact_path,
                           task_expectations)
from circuits.hardware import build_hardware_qnode, dedup_expectations
from qattn_hybrid.layers.common import (AttentionOutput, check_inputs, mask_scores, param_dtype,
                                        pool, value_path)
from qattn_hybrid.layers.folding import Foldable, circuit_coefficients, folded_outputs

__all__ = ["CIRCUIT_KEYWORDS", "EXECUTION_KEYWORDS", "AngleMap", "CircuitDevice", "FoldedAttention",
           "QuantumAttention", "layer_specs"]


def _one_task(tasks: int | torch.Tensor) -> bool:
    """Whether every row of a batch has the same task."""
    return isinstance(tasks, int) or bool((tasks == tasks[0]).all())


# The flat keywords a circuit layer accepts instead of `spec=` / `execution=` (quick start)
CIRCUIT_KEYWORDS = ("n_qubits", "n_layers", "ansatz", "conditioning", "rotation", "reupload",
                    "readout")
EXECUTION_KEYWORDS = ("qml_device", "shots", "diff_method", "device_options")


def layer_specs(n_tasks: int | None, spec: CircuitSpec | None, execution: ExecutionSpec | None,
                **keywords) -> tuple[CircuitSpec, ExecutionSpec]:
    """A layer's circuit and execution records: ``spec=`` / ``execution=``, or built from the
    flat keywords (None = not given, the record's default), never both for one record.

    ``n_tasks`` may be None with a ``spec`` (it is ``spec.n_tasks``); given with one, they
    must agree.
    """
    circuit = {k: keywords[k] for k in CIRCUIT_KEYWORDS if keywords.get(k) is not None}
    running = {k: keywords[k] for k in EXECUTION_KEYWORDS if keywords.get(k) is not None}
    if spec is None:
        spec = CircuitSpec(n_tasks=n_tasks, **circuit)
    else:
        _check_record("spec", spec, CircuitSpec, circuit)
        if n_tasks is not None and n_tasks != spec.n_tasks:
            raise ValueError(f"n_tasks must equal spec.n_tasks={spec.n_tasks} (or be left "
                             f"out); got {n_tasks}")
    if execution is None:
        execution = ExecutionSpec(**running)
    else:
        _check_record("execution", execution, ExecutionSpec, running)
    return spec, execution


def _check_record(name: str, record, cls, keywords: dict) -> None:
    if not isinstance(record, cls):
        raise TypeError(f"{name} must be a circuits.{cls.__name__}; got {type(record).__name__}")
    if keywords:
        raise ValueError(f"{name}= must be given alone, not with its keywords; got {name}= and "
                         f"{', '.join(keywords)} (put them in the {cls.__name__})")


class CircuitDevice:
    """Mixin for layers that run `self.spec` as `self.execution` says: a QNode built once.

    `qml_device` is the PennyLane device name actually used (the default resolved). The
    QNode is dropped when the layer is pickled or deep-copied (QNodes and devices do not
    pickle reliably, PennyLane #2204) and rebuilt on first use.
    """

    def init_circuit_device(self, spec: CircuitSpec, execution: ExecutionSpec,
                            guard=None) -> None:
        self.spec, self.execution, self.guard = spec, execution, guard
        device = execution.qml_device
        self.qml_device = default_device(execution.shots) if device is None else device
        self._qnode = self._build_qnode()  # fail early on a bad device name or shots

    @property
    def shots(self) -> int | None:
        return self.execution.shots

    @property
    def diff_method(self) -> str:
        return self.execution.diff_method

    @property
    def device_options(self) -> dict:
        return self.execution.device_options

    def _build_qnode(self):
        options = {**self.execution.qnode_options(), "device": self.qml_device}
        return build_hardware_qnode(self.spec, **options, guard=self.guard)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_qnode"] = None
        return state

    @property
    def qnode(self):
        if self._qnode is None:
            self._qnode = self._build_qnode()
        return self._qnode

    def set_guard(self, guard) -> None:
        """Send every later circuit through `guard` (budget, dry run, retries, result cache)."""
        self.guard, self._qnode = guard, None  # the QNode is rebuilt, guarded, on next use


class AngleMap:
    """What QuantumAttention and its folded form share: a `spec` (the circuit as run, with
    n_tasks · n_circuits conditioning sets), `n_circuits` and a `to_angles` Linear."""

    @property
    def n_tasks(self) -> int:
        return self.spec.n_tasks // self.n_circuits

    def angles(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, G·Q) rotation angles in (-π, π)."""
        return math.pi * torch.tanh(self.to_angles(x))

    def circuit_tasks(self, tasks: int | torch.Tensor) -> int | torch.Tensor:
        """Conditioning sets of the G circuits: task k -> k·G + g, as (G,) for an int task
        or (G, B) for a LongTensor (B,) (an int when G = 1)."""
        G = self.n_circuits
        if G == 1:
            return tasks
        offsets = torch.arange(G, device=None if isinstance(tasks, int) else tasks.device)
        return tasks * G + (offsets if isinstance(tasks, int) else offsets[:, None])

    def circuit_outputs(self, angles: torch.Tensor, tasks, evaluate) -> torch.Tensor:
        """(N, G·n_out) ⟨Z⟩ of rows `angles` (N, G·Q) with tasks (an int or (N,)): `evaluate`
        (rows (M, Q), row tasks) -> (M, n_out) runs all G circuits of every row in one call."""
        G, N = self.n_circuits, angles.shape[0]
        if G == 1:
            return evaluate(angles, tasks)
        rows = angles.view(N, G, -1).transpose(0, 1).reshape(G * N, -1)  # circuit-major
        sets = self.circuit_tasks(tasks)  # (G,) or (G, N)
        sets = (sets[:, None] if sets.dim() == 1 else sets).expand(G, N).reshape(-1)
        z = evaluate(rows, sets)  # (G·N, n_out)
        return z.view(G, N, -1).transpose(0, 1).reshape(N, -1)  # (N, G·n_out)


class QuantumAttention(AngleMap, CircuitDevice, Foldable, nn.Module):
    """Attention pooling whose token scores are expectation values of a task-conditioned circuit.

    forward(x (B, T, D), task_id int | LongTensor (B,), mask (B, T) bool or None)
        -> AttentionOutput(pooled (B, D), weights (B, H, T))
    """

    def __init__(self, d_model: int, n_tasks: int | None = None, n_qubits: int | None = None,
                 n_layers: int | None = None, n_heads: int = 1, ansatz: str | None = None,
                 conditioning: str | None = None, qml_device: str | None = None,
                 shots: int | None = None, diff_method: str | None = None,
                 rotation: str | None = None, reupload: bool | None = None,
                 readout: str | None = None, device_options: dict | None = None,
                 dedup: bool | None = None, guard=None, exact_path: str = "auto",
                 value: str = "identity", n_circuits: int = 1, *,
                 spec: CircuitSpec | None = None, execution: ExecutionSpec | None = None):
        # spec: the circuit (a circuits.CircuitSpec), or the flat keywords n_qubits, n_layers,
        #   ansatz, conditioning, rotation, reupload, readout (unset: CircuitSpec's defaults,
        #   4 qubits, 2 layers, ...); n_tasks may be left out with a spec.
        # execution: where it runs (a circuits.ExecutionSpec), or the flat keywords qml_device
        #   (a PennyLane device name; None = the fast exact "qattn.torch", default.qubit with
        #   shots, see circuits.default_device), shots, diff_method, device_options.
        # value: "identity" (pool the features themselves) or "linear" (a D x D projection
        #   initialised to the identity); either way the layer starts as masked mean pooling.
        # dedup: evaluate identical (angles, task) rows once (default: on when shots is set);
        # guard: a circuits.hardware.ExecutionGuard (budget, dry run, retries, result cache).
        # exact_path: "fold" evaluates the circuit as its exact folded polynomial, coefficients
        #   recomputed (with autograd) every forward; "circuit" simulates it; "auto" folds on
        #   the default device where that measured faster (circuits.fold.resolve_exact_path).
        # n_circuits: G circuits per task and token, each on its own Q angles (module docstring)
        super().__init__()
        for name, number in (("d_model", d_model), ("n_heads", n_heads),
                             ("n_circuits", n_circuits)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise ValueError(f"{name} must be a positive int; got {number!r}")
        if d_model % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads={n_heads}; got {d_model}")
        spec, execution = layer_specs(
            n_tasks, spec, execution, n_qubits=n_qubits, n_layers=n_layers, ansatz=ansatz,
            conditioning=conditioning, rotation=rotation, reupload=reupload, readout=readout,
            qml_device=qml_device, shots=shots, diff_method=diff_method,
            device_options=device_options)
        self.d_model, self.n_heads, self.n_circuits = d_model, n_heads, n_circuits
        self.dedup = execution.shots is not None if dedup is None else bool(dedup)
        spec = dataclasses.replace(spec, n_tasks=spec.n_tasks * n_circuits)  # sets k·G + g
        self.init_circuit_device(spec, execution, guard)
        self.exact_path = resolve_exact_path(exact_path, spec, execution.qml_device,
                                             execution.shots)

        # features -> the G circuits' angles before the squash
        self.to_angles = nn.Linear(d_model, n_circuits * spec.n_qubits)
        self.circuit = nn.ParameterDict(
            {k: nn.Parameter(v) for k, v in init_parameters(self.spec).items()}
        )
        # ⟨Z⟩ -> one score per head; no bias: a softmax over tokens ignores a constant shift.
        # Zero at init: every score is 0, the weights uniform over real tokens, so the layer
        # starts as masked mean pooling and training moves away only where that lowers the loss.
        self.readout = nn.Linear(n_circuits * self.spec.n_outputs, n_heads, bias=False)
        nn.init.zeros_(self.readout.weight)
        self.value = value_path(value, d_model)

    def expectation_values(self, x: torch.Tensor, task_id, mask=None) -> torch.Tensor:
        """(B, T, G·n_out) circuit outputs; masked tokens are not simulated and read 0."""
        tasks = check_inputs(x, task_id, mask, self.d_model, self.n_tasks, param_dtype(self))
        B, T, _ = x.shape
        keep = mask if mask is not None else torch.ones(B, T, dtype=torch.bool, device=x.device)
        rows = self.angles(x)[keep]  # (N, G·Q): the real tokens of every row, in one batch
        row_tasks = tasks if isinstance(tasks, int) else tasks[:, None].expand(B, T)[keep]  # (N,)
        params = {k: v.to(rows.dtype) for k, v in self.circuit.items()}
        if self.guard is None and (self.exact_path == "fold" or (
                self.exact_path == "mixed" and not _one_task(tasks))):  # same values, no simulation
            coefficients = fold_coefficients(self.spec, params, rows.dtype)

            def evaluate(angles, sets):
                return task_expectations(angles, coefficients, sets)
        elif self.dedup:  # identical rows (repeated tokens) become one circuit
            def evaluate(angles, sets):
                return dedup_expectations(self.qnode, self.spec, angles, sets, params)
        else:
            def evaluate(angles, sets):
                return expectations(self.qnode, angles, select(self.spec, params, sets))
        out = rows.new_zeros(B, T, self.n_circuits * self.spec.n_outputs)
        out[keep] = self.circuit_outputs(rows, row_tasks, evaluate)  # (N, G·n_out)
        return out

    def scores(self, x: torch.Tensor, task_id, mask=None) -> torch.Tensor:
        """(B, H, T) attention logits; -inf on masked tokens."""
        scores = self.readout(self.expectation_values(x, task_id, mask)).transpose(1, 2)
        return mask_scores(scores, mask)

    def forward(self, x: torch.Tensor, task_id, mask=None) -> AttentionOutput:
        scores = self.scores(x, task_id, mask)  # (B, H, T); checks the inputs first
        return pool(scores, self.value(x))

    def fold(self) -> nn.Module:
        """This layer with its circuit folded into exact real arithmetic (no simulation at
        inference; same forward and outputs); see qattn_hybrid.layers.folding."""
        return FoldedAttention(self).train(self.training)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"d_model={self.d_model}, n_tasks={self.n_tasks}, n_qubits={s.n_qubits}, "
                f"n_layers={s.n_layers}, n_heads={self.n_heads}, n_circuits={self.n_circuits}, "
                f"ansatz={s.ansatz.value}, "
                f"conditioning={s.conditioning.value}, qml_device={self.qml_device!r}, "
                f"shots={self.shots}")


class FoldedAttention(AngleMap, nn.Module):
    """QuantumAttention with its circuit folded: same forward, same outputs, real arithmetic.

    forward(x (B, T, D), task_id int | LongTensor (B,), mask (B, T) bool or None)
        -> AttentionOutput(pooled (B, D), weights (B, H, T))
    """

    def __init__(self, layer: QuantumAttention):
        super().__init__()
        check_foldable(layer.spec, layer.qml_device, layer.shots)
        self.spec, self.d_model, self.n_heads = layer.spec, layer.d_model, layer.n_heads
        self.n_circuits = layer.n_circuits
        self.to_angles = copy.deepcopy(layer.to_angles)
        self.readout = copy.deepcopy(layer.readout)
        self.value = copy.deepcopy(layer.value)
        dtype = layer.to_angles.weight.dtype
        self.register_buffer("coefficients", circuit_coefficients(layer.spec, layer.circuit, dtype))

    def expectation_values(self, x: torch.Tensor, task_id, mask=None) -> torch.Tensor:
        """(B, T, G·n_out) circuit outputs; masked tokens read 0, as in the circuit layer."""
        tasks = check_inputs(x, task_id, mask, self.d_model, self.n_tasks)
        B, T, _ = x.shape
        angles = self.angles(x).view(B, T, self.n_circuits, -1).permute(2, 0, 1, 3)  # (G,B,T,Q)
        sets = self.circuit_tasks(tasks)  # int, (G,) or (G, B): a prefix of angles' lead axes
        if not isinstance(sets, int) and self.n_circuits == 1:
            sets = sets[None]  # (1, B)
        z = folded_outputs(angles, self.coefficients, sets)  # (G, B, T, n_out)
        z = z.permute(1, 2, 0, 3).reshape(B, T, -1)  # (B, T, G·n_out)
        return z if mask is None else z * mask[..., None]

    def scores(self, x: torch.Tensor, task_id, mask=None) -> torch.Tensor:
        scores = self.readout(self.expectation_values(x, task_id, mask)).transpose(1, 2)
        return mask_scores(scores, mask)

    def forward(self, x: torch.Tensor, task_id, mask=None) -> AttentionOutput:
        return pool(self.scores(x, task_id, mask), self.value(x))

    def extra_repr(self) -> str:
        s = self.spec
        return (f"d_model={self.d_model}, n_tasks={self.n_tasks}, n_qubits={s.n_qubits}, "
                f"n_heads={self.n_heads}, n_circuits={self.n_circuits}, "
                f"coefficients={tuple(self.coefficients.shape)}")
