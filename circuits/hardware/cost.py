"""Cost model: circuits, jobs and shots per forward pass and per training step, and a price.

Counts follow what PennyLane and the plugins actually send (checked against the device
trackers in tests/circuits/hardware/plugins/), for N unique token rows:

    forward                      N circuits in one batch
    parameter-shift backward     N·2P circuits in one batch (two shifted circuits per
                                 trainable gate parameter P, per row): step N·(1+2P)
    spsa backward                N·2·num_directions circuits
    finite-diff backward         N·(P+1) circuits (forward differences plus the unshifted one)

Jobs per batch follow the plugin's packing (`PluginProfile.jobs_for`): Braket program sets
hold up to `max_executables` circuits (braket.local.qubit sends one task per circuit),
qiskit.remote one Estimator job per circuit, IonQ one multi-circuit job per batch, and the
native Estimator path one job per step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import pennylane as qml

from circuits.build import example_arguments
from circuits.hardware.guard import Counts
from circuits.plugins import DEFAULT_BRAKET_MAX_EXECUTABLES, get_profile, local_profile
from circuits.spec import CircuitSpec
from circuits.templates import make_circuit

HARDWARE_DIFF_METHODS = ("parameter-shift", "spsa", "finite-diff")
GATE_SET = {"RX", "RY", "RZ", "CNOT", "Hadamard"}  # what every plugin here runs natively


@dataclass(frozen=True)
class PriceTable:
    """User-supplied prices (no defaults: providers change them); any currency."""

    per_task: float = 0.0  # per job / task / program-set task
    per_shot: float = 0.0
    currency: str = "USD"

    def price(self, counts: Counts) -> float:
        return counts.jobs * self.per_task + counts.shots * self.per_shot


@dataclass(frozen=True)
class CostEstimate:
    """What one forward pass and one training step send, and what they cost."""

    device: str
    diff_method: str
    shots: int
    rows: int  # unique token rows per call (after masking and deduplication)
    gate_parameters: int  # P: trainable gate parameters per circuit
    forward: Counts  # inference: one forward pass
    step: Counts  # training: forward + backward
    forward_price: float | None
    step_price: float | None
    currency: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=64)
def gate_parameters(spec: CircuitSpec, trainable: tuple[str, ...] = ("angles", "circuit")) -> int:
    """P: trainable scalar gate parameters in one token's circuit, after decomposition.

    "angles" are the embedded token angles (trainable through the layer's input projection),
    "circuit" the variational weights and task angles.
    """
    args = example_arguments(spec, n_rows=1)
    args = {k: v.clone().requires_grad_(k == "angles" and "angles" in trainable
                                        or k != "angles" and "circuit" in trainable)
            for k, v in args.items()}
    args["angles"] = args["angles"][0]
    tape = qml.tape.make_qscript(make_circuit(spec))(**args)
    [tape], _ = qml.transforms.decompose(tape, gate_set=GATE_SET)
    return sum(1 for op in tape.operations for p in op.data if qml.math.requires_grad(p))


def backward_circuits(rows: int, p: int, diff_method: str, num_directions: int = 1) -> int:
    """Circuits the gradient batch of one training step sends."""
    if diff_method == "parameter-shift":
        return rows * 2 * p
    if diff_method == "spsa":
        return rows * 2 * num_directions
    if diff_method == "finite-diff":
        return rows * (p + 1)
    raise ValueError(f"diff_method must be one of {', '.join(HARDWARE_DIFF_METHODS)} on "
                     f"shot-based hardware; got {diff_method!r}")


def plan_counts(spec: CircuitSpec, rows: int, diff_method: str, shots: int, device: str,
                training: bool, max_executables: int | None = None,
                num_directions: int = 1) -> Counts:
    """Counts of one call on `rows` unique rows: a forward, or a whole training step."""
    profile = get_profile(device) or local_profile(device)
    if profile.packing == "program_set" and max_executables is None:
        max_executables = DEFAULT_BRAKET_MAX_EXECUTABLES
    forward = Counts(rows, profile.jobs_for(rows, max_executables), rows * shots, int(rows > 0))
    if not training:
        return forward
    n_back = backward_circuits(rows, gate_parameters(spec), diff_method, num_directions)
    if profile.packing == "per_step":  # native Estimator: forward and shifts in one PUB
        n = rows + n_back
        return Counts(n, int(n > 0), n * shots, int(n > 0))
    back = Counts(n_back, profile.jobs_for(n_back, max_executables), n_back * shots,
                  int(n_back > 0))
    return forward + back


def estimate_cost(spec: CircuitSpec, batch_tokens: int, diff_method: str = "parameter-shift",
                  shots: int = 1000, device: str = "braket.aws.qubit",
                  price_table: PriceTable | dict | None = None,
                  max_executables: int | None = None, num_directions: int = 1) -> CostEstimate:
    """Circuits, jobs, shots (and price) per forward and per training step.

    batch_tokens: rows the circuit sees per call, i.e. real (unmasked) tokens after
    deduplication; max_executables: Braket program-set size (default 100, the device's own
    value is used when a device is built).
    """
    if isinstance(batch_tokens, bool) or not isinstance(batch_tokens, int) or batch_tokens < 0:
        raise ValueError(f"batch_tokens must be a non-negative int; got {batch_tokens!r}")
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
        raise ValueError(f"shots must be a positive int on hardware; got {shots!r}")
    backward_circuits(0, 0, diff_method)  # validates diff_method
    if isinstance(price_table, dict):
        price_table = PriceTable(**price_table)
    kwargs = dict(max_executables=max_executables, num_directions=num_directions)
    forward = plan_counts(spec, batch_tokens, diff_method, shots, device, False, **kwargs)
    step = plan_counts(spec, batch_tokens, diff_method, shots, device, True, **kwargs)
    price = (lambda c: round(price_table.price(c), 6)) if price_table else (lambda c: None)
    return CostEstimate(device, diff_method, shots, batch_tokens, gate_parameters(spec), forward,
                        step, price(forward), price(step),
                        price_table.currency if price_table else None)
