"""PennyLane's own device conformance suite, run on the fast exact device."""

import re
import shutil
import subprocess

import pytest


@pytest.mark.slow
def test_pl_device_test_passes_on_qattn_torch(tmp_path):
    pytest.importorskip("pytest_mock")  # the suite's own requirements
    pytest.importorskip("flaky")
    command = shutil.which("pl-device-test")
    assert command, "pl-device-test (installed with pennylane) is not on PATH"
    result = subprocess.run([command, "--device", "qattn.torch", "--shots", "None", "-q",
                             "-p", "no:cacheprovider"], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, summary
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 390, summary
    assert not re.search(r"\d+ (failed|errors?)\b", summary), summary
