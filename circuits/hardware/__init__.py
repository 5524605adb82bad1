"""Running circuits on QPUs through PennyLane plugins: cost, budget, deduplication, packing.

Built on the circuit core (`circuits.build_qnode`, `circuits.plugins`); the core never
imports this package. Nothing here imports a plugin at import time; each plugin is an
optional extra (`pip install 'qattn-hybrid[braket]'`, `[qiskit]`, `[ionq]` or `[qpu]`).
"""

from circuits.hardware.cache import ResultCache, tape_key
from circuits.hardware.cost import (
    CostEstimate, PriceTable, estimate_cost, gate_parameters, plan_counts,
)
from circuits.hardware.dedup import (
    dedup_expectations, deduplicate, enable_dedup, unique_rows, unique_rows_count,
)
from circuits.hardware.execution import GuardedQNode, guard_qnode
from circuits.hardware.guard import (
    Budget, BudgetExceededError, Counts, ExecutionGuard, Retry, TransientDeviceError,
)
from circuits.hardware.noise import NoiseReport, accuracy_report, fake_backend
from circuits.hardware.qnode import build_hardware_qnode, native_qnode
from circuits.plugins import PROFILES, MissingCredentialsError, PluginProfile, get_profile

__all__ = [
    "PROFILES",
    "Budget",
    "BudgetExceededError",
    "CostEstimate",
    "Counts",
    "ExecutionGuard",
    "GuardedQNode",
    "MissingCredentialsError",
    "NoiseReport",
    "PluginProfile",
    "PriceTable",
    "ResultCache",
    "Retry",
    "TransientDeviceError",
    "accuracy_report",
    "build_hardware_qnode",
    "dedup_expectations",
    "deduplicate",
    "enable_dedup",
    "estimate_cost",
    "fake_backend",
    "gate_parameters",
    "get_profile",
    "guard_qnode",
    "native_qnode",
    "plan_counts",
    "tape_key",
    "unique_rows",
    "unique_rows_count",
]
