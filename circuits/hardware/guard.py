"""Everything between a QNode and a paid device: budget, ledger, dry run, retries, cache.

`ExecutionGuard.attach(device)` wraps the device's `execute`, the one call every batch of
circuits (forward and gradient) goes through. Each batch is counted (circuits, jobs, shots)
with the plugin's packing rule, checked against the `Budget` and only then sent, retried on
transient errors with exponential backoff, and its results stored in the on-disk cache.
`check_plan` refuses a whole forward or training step before its first circuit is sent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from circuits.hardware.cache import ResultCache, tape_key
from circuits.plugins import PluginProfile

logger = logging.getLogger(__name__)

# Error class names (anywhere in the MRO) that mean "try again": network, throttling, queue.
TRANSIENT_ERROR_NAMES = frozenset({
    "ConnectionError", "TimeoutError", "EndpointConnectionError", "ConnectTimeoutError",
    "ReadTimeoutError", "ThrottlingException", "ServiceUnavailable", "RequestsApiError",
    "IBMRuntimeError", "JobExecutionError", "TransientDeviceError",
})


class BudgetExceededError(RuntimeError):
    """Raised before sending anything that would take a run past its budget."""


class TransientDeviceError(RuntimeError):
    """A failure worth retrying (raised by stand-ins and wrappers; real plugins' errors are
    recognised by name, see TRANSIENT_ERROR_NAMES)."""


@dataclass
class Counts:
    """Circuits, device jobs (tasks) and shots; `batches` = device `execute` calls."""

    circuits: int = 0
    jobs: int = 0
    shots: int = 0
    batches: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.circuits + other.circuits, self.jobs + other.jobs,
                      self.shots + other.shots, self.batches + other.batches)


@dataclass(frozen=True)
class Budget:
    """Per-run limits; None means unlimited."""

    max_shots: int | None = None
    max_jobs: int | None = None
    max_circuits: int | None = None

    def check(self, spent: Counts, planned: Counts, what: str) -> None:
        """Raise BudgetExceededError if `spent + planned` passes a limit."""
        total = spent + planned
        for name, limit, used, need in (
            ("max_shots", self.max_shots, total.shots, planned.shots),
            ("max_jobs", self.max_jobs, total.jobs, planned.jobs),
            ("max_circuits", self.max_circuits, total.circuits, planned.circuits),
        ):
            if limit is not None and used > limit:
                raise BudgetExceededError(
                    f"Budget exceeded: {what} needs {need} {name[4:]} (run total {used} > "
                    f"{name}={limit}); nothing was sent"
                )


@dataclass(frozen=True)
class Retry:
    """Exponential backoff: waits backoff_s, backoff_s·factor, ... between attempts."""

    max_attempts: int = 4
    backoff_s: float = 2.0
    factor: float = 2.0

    @staticmethod
    def is_transient(error: BaseException) -> bool:
        return any(cls.__name__ in TRANSIENT_ERROR_NAMES for cls in type(error).__mro__)


@dataclass
class ExecutionGuard:
    """Budget, dry run, retries and result cache for one run (shared by its devices)."""

    budget: Budget = field(default_factory=Budget)
    dry_run: bool = False  # count everything, send nothing, return zeros
    retry: Retry = field(default_factory=Retry)
    cache_dir: str | None = None  # on-disk results by circuit hash; None = no cache
    spent: Counts = field(default_factory=Counts)  # what was sent (or would be, in a dry run)
    sleep: Callable[[float], None] = time.sleep  # replaceable in tests

    def __post_init__(self):
        self.cache = ResultCache(self.cache_dir) if self.cache_dir is not None else None

    def check_plan(self, planned: Counts, what: str = "this step") -> None:
        """Refuse a whole forward / training step before its first circuit is sent."""
        self.budget.check(self.spent, planned, what)

    def submit(self, planned: Counts, send, what: str = "this batch"):
        """Check the budget, record `planned`, then run `send()` with retries."""
        self.budget.check(self.spent, planned, what)
        for attempt in range(1, self.retry.max_attempts + 1):
            self.spent = self.spent + planned
            try:
                return send()
            except Exception as error:  # noqa: BLE001 - re-raised unless transient
                if attempt == self.retry.max_attempts or not Retry.is_transient(error):
                    raise
                wait = self.retry.backoff_s * self.retry.factor ** (attempt - 1)
                logger.warning("transient device error (%s); retry %d/%d in %.1f s",
                               type(error).__name__, attempt, self.retry.max_attempts - 1, wait)
                self.sleep(wait)
                self.budget.check(self.spent, planned, f"retrying {what}")

    def attach(self, device, profile: PluginProfile, max_executables: int | None = None,
               max_set_shots: int | None = None):
        """Wrap `device.execute` (instance attribute) with counting, budget, retry and cache.

        max_set_shots: a Braket program set's shot limit (`maximumTotalShots`), checked
        before sending because the plugin splits program sets by circuit count only.
        """
        inner = device.execute
        identity = f"{profile.name}|{getattr(device, 'short_name', '')}|{_backend_name(device)}"

        def execute(circuits, execution_config=None):
            single = not isinstance(circuits, (list, tuple))
            circuits = [circuits] if single else list(circuits)
            keys = [tape_key(c, identity) for c in circuits] if self.cache is not None else None
            results = [self.cache.get(k) for k in keys] if keys else [None] * len(circuits)
            todo = [i for i, r in enumerate(results) if r is None]
            if todo:
                batch = [circuits[i] for i in todo]
                planned = Counts(len(batch), profile.jobs_for(len(batch), max_executables),
                                 sum(c.shots.total_shots or 0 for c in batch), 1)
                check_program_set_shots(len(batch), planned.shots // len(batch),
                                        max_executables, max_set_shots)
                if self.dry_run:
                    self.budget.check(self.spent, planned, "this batch")
                    self.spent = self.spent + planned
                    fresh = [_zeros_like_result(c) for c in batch]
                else:
                    fresh = list(self.submit(planned, lambda: inner(batch, execution_config)))
                for i, r in zip(todo, fresh):
                    results[i] = r
                    if keys and not self.dry_run:
                        self.cache.put(keys[i], r)
            return results[0] if single else tuple(results)

        device.execute = execute
        return device


def check_program_set_shots(n_circuits: int, shots: int, max_executables: int | None,
                            max_set_shots: int | None) -> None:
    """Refuse a batch whose first program set would exceed the device's shot limit."""
    if not max_executables or not max_set_shots or n_circuits == 0:
        return
    per_set = min(n_circuits, max_executables)
    if per_set * shots > max_set_shots:
        raise ValueError(
            f"shots per circuit must be at most {max_set_shots // per_set} here: a program set "
            f"of {per_set} circuits may hold {max_set_shots} shots; got {shots}"
        )


def _backend_name(device) -> str:
    backend = getattr(device, "backend", None) or getattr(device, "_device", None)
    return str(getattr(backend, "name", "") or "")


def _zeros_like_result(tape):
    """What a dry run returns for one circuit: 0.0 for each measurement."""
    values = tuple(np.float64(0.0) for _ in tape.measurements)
    return values[0] if len(values) == 1 else values
