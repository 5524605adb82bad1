"""`qattn cost`: the cost model from the command line (no plugin needed, nothing sent)."""

import json

import pytest

from qattn_hybrid.cli.parser import main


class TestCost:
    def test_step_counts_and_price(self, capsys):
        assert main(["cost", "--ansatz", "strongly_entangling", "--tokens", "8",
                     "--qml-device", "braket.aws.qubit", "--price-per-task", "0.3",
                     "--price-per-shot", "0.00035"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["gate_parameters"] == 28
        assert out["step"] == {"circuits": 456, "jobs": 6, "shots": 456_000, "batches": 2}
        assert out["forward"]["jobs"] == 1 and out["step_price"] == 161.4

    def test_per_plugin_jobs(self, capsys):
        for device, jobs in (("qiskit.remote", 456), ("qiskit.estimator", 1), ("ionq.qpu", 2)):
            main(["cost", "--ansatz", "strongly_entangling", "--tokens", "8", "--qml-device",
                  device])
            assert json.loads(capsys.readouterr().out)["step"]["jobs"] == jobs

    def test_device_is_the_old_name_of_qml_device(self, capsys):
        outputs = []
        for flag in ("--qml-device", "--device"):
            assert main(["cost", "--tokens", "8", flag, "ionq.qpu"]) == 0
            outputs.append(json.loads(capsys.readouterr().out))
        assert outputs[0] == outputs[1] and outputs[0]["device"] == "ionq.qpu"

    def test_bad_diff_method(self, capsys):
        with pytest.raises(SystemExit) as exit_info:  # argparse lists the choices
            main(["cost", "--diff-method", "adjoint"])
        assert exit_info.value.code == 2
        assert ("argument --diff-method: invalid choice: 'adjoint' (choose from "
                "'parameter-shift', 'spsa', 'finite-diff')") in capsys.readouterr().err
