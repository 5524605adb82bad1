"""Option names that name a secret are recognised however they are spelled."""

import pytest

from circuits.credentials import is_secret_name, refuse_secrets

# Real plugin options (Braket, Qiskit, IonQ, simulators): none of them is a secret.
SAFE = ["device_arn", "s3_bucket", "s3_prefix", "s3_destination_folder", "backend",
        "execution_mode", "seed", "seed_transpiler", "optimization_level", "c_dtype",
        "max_fused_wires", "method", "noise_model", "gateset", "max_parallel", "parallel",
        "poll_timeout_seconds", "error_mitigation", "sharpen", "batch_obs", "max_workers"]


class TestSecretNames:
    def test_every_spelling_is_a_secret(self, secret_spellings):
        assert len(secret_spellings) >= 12
        assert [n for n in secret_spellings if not is_secret_name(n)] == []

    @pytest.mark.parametrize("name", SAFE)
    def test_plugin_options_are_not_secrets(self, name):
        assert not is_secret_name(name)


class TestRefusal:
    def test_error_names_keys_not_values(self, secret_value):
        with pytest.raises(ValueError, match=r"must not contain credentials; got "
                                             r"\['Token', 'aws_secret_key'\]") as error:
            refuse_secrets({"Token": secret_value, "aws_secret_key": secret_value, "backend": "x"})
        assert secret_value not in str(error.value)

    def test_keys_must_be_strings(self):
        with pytest.raises(TypeError, match=r"device_options keys must be str; got int"):
            refuse_secrets({1: "x"})

    def test_options_must_be_a_dict(self):
        with pytest.raises(TypeError, match=r"device_options must be a dict of plugin options; "
                                            r"got list"):
            refuse_secrets(["token"])

    def test_safe_options_pass_unchanged(self):
        assert refuse_secrets({"backend": "b", "seed": 1}) == {"backend": "b", "seed": 1}
        assert refuse_secrets(None) == {}
