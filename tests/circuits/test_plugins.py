"""Device plugins: installation, credentials, option translation, and secrets refused.

Credentials: at least a dozen spellings of secret option names, on every device path
(every profile, plain simulators, the native Estimator path), through the function that
builds devices; the refusal names the key, never the value, and logs nothing of it.
"""

import logging
import os

import pytest

from circuits import CircuitSpec, build_qnode, check_device_options, make_device
from circuits.plugins import PROFILES, PluginProfile, get_profile

DEVICES = sorted({*PROFILES, "default.qubit", "qattn.torch", "lightning.qubit"})


@pytest.mark.parametrize("device", DEVICES)
class TestEveryDevicePath:
    def test_every_spelling_is_refused_before_anything_is_built(self, device, caplog,
                                                                 secret_spellings, secret_value):
        SECRET = secret_value
        caplog.set_level(logging.DEBUG)
        for name in secret_spellings:
            options = {"backend": "x", name: SECRET}
            for check in (lambda: check_device_options(device, options),
                          lambda: make_device(device, 2, **options),
                          lambda: build_qnode(CircuitSpec(n_qubits=2), device, shots=10,
                                              device_options=options)):
                with pytest.raises(ValueError, match=rf"must not contain credentials; got "
                                                     rf"\['{name}'\]") as error:
                    check()
                assert SECRET not in str(error.value)
        assert SECRET not in caplog.text

    def test_only_known_options_are_accepted(self, device, secret_value):
        SECRET = secret_value
        profile = get_profile(device)
        with pytest.raises(ValueError, match=rf"device_options for '{device}' must be among "
                                             rf".*; got \['pw'\]"):
            check_device_options(device, {"pw": SECRET})
        assert profile.check_options({k: 1 for k in profile.options}) == {
            k: 1 for k in profile.options}


class TestHardwarePaths:
    @pytest.mark.parametrize("device", ["qiskit.estimator", "ionq.qpu", "braket.aws.qubit"])
    def test_native_estimator_and_guarded_paths(self, device, secret_spellings, secret_value):
        from circuits.hardware import ExecutionGuard, build_hardware_qnode

        SECRET = secret_value
        for name in secret_spellings:
            with pytest.raises(ValueError, match="must not contain credentials") as error:
                build_hardware_qnode(CircuitSpec(n_qubits=2), device, shots=10,
                                     diff_method="parameter-shift", guard=ExecutionGuard(),
                                     device_options={name: SECRET})
            assert SECRET not in str(error.value)


class TestProfiles:
    def test_credentials_in_options_are_refused(self):
        with pytest.raises(ValueError, match=r"must not contain credentials; got \['api_key'\]"):
            get_profile("ionq.qpu").device_kwargs({"api_key": "secret"})

    def test_missing_extra_names_it(self):
        profile = PluginProfile("x.qpu", "xextra", ("not_a_module_qattn",), True, "per_batch")
        with pytest.raises(ImportError, match=r"pip install 'qattn-hybrid\[xextra\]'"):
            profile.device_kwargs({})

    def test_missing_credentials(self, monkeypatch, tmp_path):
        pytest.importorskip("pennylane_ionq")
        for name in ("IONQ_API_KEY", "PENNYLANE_IONQ_API_KEY"):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(RuntimeError, match="set the environment variable IONQ_API_KEY"):
            get_profile("ionq.qpu").device_kwargs({})

    def test_stand_in_credentials_are_placeholders_restored_on_exit(self, monkeypatch):
        pytest.importorskip("pennylane_ionq")
        from qpu_standins import offline_ionq

        monkeypatch.delenv("IONQ_API_KEY", raising=False)
        with offline_ionq():
            assert os.environ["IONQ_API_KEY"] == "offline"
            get_profile("ionq.qpu").device_kwargs({})  # passes the credential check
        assert "IONQ_API_KEY" not in os.environ
        monkeypatch.setenv("IONQ_API_KEY", "mine")
        with offline_ionq():
            assert os.environ["IONQ_API_KEY"] == "mine"  # a set variable is left alone

    def test_missing_aws_credentials(self, monkeypatch, tmp_path):
        pytest.importorskip("braket.pennylane_plugin")
        for name in list(os.environ):
            if name.startswith("AWS_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        with pytest.raises(RuntimeError, match="aws configure"):
            get_profile("braket.aws.qubit").device_kwargs({"device_arn": "arn:x"})

    def test_missing_ibm_credentials(self, monkeypatch, tmp_path):
        pytest.importorskip("qiskit_ibm_runtime")
        pytest.importorskip("pennylane_qiskit")
        monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        with pytest.raises(RuntimeError, match="QISKIT_IBM_TOKEN"):
            get_profile("qiskit.remote").device_kwargs({"backend": "ibm_torino"})

    def test_braket_needs_an_arn(self, monkeypatch):
        pytest.importorskip("braket.pennylane_plugin")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "offline")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "offline")
        with pytest.raises(ValueError, match="device_arn'\\] must be a Braket device ARN"):
            get_profile("braket.aws.qubit").device_kwargs({})
        kwargs = get_profile("braket.aws.qubit").device_kwargs(
            {"device_arn": "arn:x", "s3_bucket": "b", "s3_prefix": "p"})
        assert kwargs == {"device_arn": "arn:x", "s3_destination_folder": ("b", "p"),
                          "parallel": True}


class TestDefaultDevice:
    def test_options_of_the_default_device_follow_shots(self):
        assert check_device_options(None, {"max_fused_wires": 4}) == {"max_fused_wires": 4}
        assert check_device_options(None, {"max_workers": 2}, shots=100) == {"max_workers": 2}
        with pytest.raises(ValueError, match=r"device_options for 'default.qubit' must be among "
                                             r"seed, max_workers; got \['max_fused_wires'\]"):
            check_device_options(None, {"max_fused_wires": 4}, shots=100)
