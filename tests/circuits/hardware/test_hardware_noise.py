"""Noise reports: accuracy with exact and with noisy circuits, worked by hand."""

import pytest
import torch

from circuits.hardware import accuracy_report, fake_backend


def test_accuracy_report_by_hand():
    labels = torch.tensor([0, 1, 1, 0])
    exact = torch.tensor([[2.0, 1.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])  # all right
    noisy = torch.tensor([[2.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # rows 1, 3 wrong
    report = accuracy_report(exact, noisy, labels, "FakeManilaV2", 100)
    assert (report.exact_accuracy, report.noisy_accuracy) == (1.0, 0.5)
    assert report.accuracy_drop == 0.5 and report.agreement == 0.5 and report.n_examples == 4


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r"logits must both be \(N, C\) with N = len\(labels\) "
                                         r"= 2; got \(2, 2\) and \(3, 2\)"):
        accuracy_report(torch.zeros(2, 2), torch.zeros(3, 2), torch.zeros(2), "x", 1)


def test_unknown_fake_backend_lists_them():
    pytest.importorskip("qiskit_ibm_runtime")
    with pytest.raises(ValueError, match=r"Unknown fake backend 'FakeNowhere'. "
                                         r"Available: .*FakeManilaV2"):
        fake_backend("FakeNowhere")
