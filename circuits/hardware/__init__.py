"""Running circuits on QPUs through PennyLane plugins: profiles, cost, budget, packing.

Nothing here imports a plugin at import time; each plugin is an optional extra
(`pip install 'qattn-hybrid[braket]'`, `[qiskit]`, `[ionq]` or `[qpu]` for all three).
"""

from circuits.hardware.cache import ResultCache, tape_key
from circuits.hardware.cost import (
    CostEstimate, PriceTable, estimate_cost, gate_parameters, plan_counts, unique_rows_count,
)
from circuits.hardware.execution import (
    GuardedQNode, dedup_expectations, guard_qnode, native_qnode, unique_rows,
)
from circuits.hardware.guard import (
    Budget, BudgetExceededError, Counts, ExecutionGuard, Retry, TransientDeviceError,
)
from circuits.hardware.noise import NoiseReport, accuracy_report, fake_backend
from circuits.hardware.profiles import (
    PROFILES, MissingCredentialsError, PluginProfile, get_profile,
)

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
    "dedup_expectations",
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
