"""Noise evaluation: run trained circuits under a fake backend's noise model, compare to exact.

`fake_backend("FakeManilaV2")` gives a `qiskit-ibm-runtime` fake backend (calibrated noise
of a real 5-qubit IBM device); the native Estimator path runs on it locally through Aer.
`accuracy_report` turns exact and noisy predictions into the accuracy drop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


def fake_backend(name: str = "FakeManilaV2"):
    """A `qiskit_ibm_runtime.fake_provider` backend by class name."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as error:
        raise ImportError("Noise evaluation needs qiskit-ibm-runtime and qiskit-aer: "
                          "pip install 'qattn-hybrid[qiskit]'") from error
    cls = getattr(fake_provider, name, None)
    if cls is None:
        names = sorted(n for n in dir(fake_provider) if n.startswith("Fake") and n.endswith("V2"))
        raise ValueError(f"Unknown fake backend {name!r}. Available: {', '.join(names)}")
    return cls()


@dataclass(frozen=True)
class NoiseReport:
    """Accuracy of the same model with exact and with noisy (finite-shot) circuits."""

    backend: str
    shots: int
    n_examples: int
    exact_accuracy: float
    noisy_accuracy: float
    accuracy_drop: float  # exact - noisy, in accuracy points (0..1)
    agreement: float  # fraction of examples where both predict the same class

    def to_dict(self) -> dict:
        return asdict(self)


def accuracy_report(exact_logits: torch.Tensor, noisy_logits: torch.Tensor,
                    labels: torch.Tensor, backend: str, shots: int) -> NoiseReport:
    """Compare predictions (argmax of (N, C) logits) against `labels` (N,)."""
    if exact_logits.shape != noisy_logits.shape or exact_logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits must both be (N, C) with N = len(labels) = {labels.shape[0]}; "
                         f"got {tuple(exact_logits.shape)} and {tuple(noisy_logits.shape)}")
    exact, noisy = exact_logits.argmax(-1), noisy_logits.argmax(-1)
    acc_exact = float((exact == labels).float().mean())
    acc_noisy = float((noisy == labels).float().mean())
    return NoiseReport(backend, shots, int(labels.shape[0]), acc_exact, acc_noisy,
                       acc_exact - acc_noisy, float((exact == noisy).float().mean()))
