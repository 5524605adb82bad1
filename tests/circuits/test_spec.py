import pytest

from circuits import Ansatz, CircuitSpec, Conditioning, ExecutionSpec, Readout, Rotation


class TestValidation:
    def test_defaults_and_strings_become_enums(self):
        spec = CircuitSpec(ansatz="strongly_entangling", conditioning="task_rotations",
                           rotation="X", readout="z_zz")
        assert spec.ansatz is Ansatz.STRONGLY_ENTANGLING
        assert spec.conditioning is Conditioning.TASK_ROTATIONS
        assert spec.rotation is Rotation.X
        assert spec.readout is Readout.Z_ZZ

    @pytest.mark.parametrize("n", [0, 21, -1])
    def test_n_qubits_out_of_range(self, n):
        with pytest.raises(ValueError, match=rf"n_qubits must be between 1 and 20; got {n}"):
            CircuitSpec(n_qubits=n)

    def test_n_layers_out_of_range(self):
        with pytest.raises(ValueError, match=r"n_layers must be >= 1; got 0"):
            CircuitSpec(n_layers=0)

    def test_n_tasks_type(self):
        with pytest.raises(TypeError, match=r"n_tasks must be an int; got float 2.0"):
            CircuitSpec(n_tasks=2.0)

    def test_unknown_ansatz_lists_choices(self):
        with pytest.raises(ValueError, match=r"ansatz must be one of 'hardware_efficient', "
                                             r"'strongly_entangling', 'no_entanglement'; got 'qaoa'"):
            CircuitSpec(ansatz="qaoa")

    def test_unknown_conditioning_lists_choices(self):
        with pytest.raises(ValueError, match=r"conditioning must be one of 'per_task_weights', "
                                             r"'task_rotations'; got 'film'"):
            CircuitSpec(conditioning="film")

    def test_unknown_rotation(self):
        with pytest.raises(ValueError, match=r"rotation must be one of 'X', 'Y', 'Z'; got 'W'"):
            CircuitSpec(rotation="W")

    def test_frozen(self):
        spec = CircuitSpec()
        with pytest.raises(AttributeError):
            spec.n_qubits = 3

    def test_dict_round_trip(self):
        spec = CircuitSpec(n_qubits=3, n_layers=1, n_tasks=2, readout="z_zz", reupload=True)
        assert CircuitSpec(**spec.to_dict()) == spec

    @pytest.mark.parametrize("q, readout, n_out", [(1, "z_zz", 1), (3, "z", 3), (4, "z_zz", 7)])
    def test_n_outputs(self, q, readout, n_out):
        assert CircuitSpec(n_qubits=q, readout=readout).n_outputs == n_out


class TestExecutionSpec:
    """Where a circuit runs: build_qnode's arguments after the spec, validated once."""

    def test_defaults_are_exact_on_the_default_device(self):
        e = ExecutionSpec()
        assert (e.qml_device, e.shots, e.diff_method, e.device_options) == (None, None, "best", {})

    def test_qnode_options_are_build_qnodes_keywords(self):
        import inspect

        from circuits import build_qnode

        e = ExecutionSpec("default.qubit", 100, "parameter-shift", {"seed": 3})
        assert set(e.qnode_options()) == set(inspect.signature(build_qnode).parameters) - {"spec"}
        assert e.qnode_options() == {"device": "default.qubit", "shots": 100,
                                     "diff_method": "parameter-shift",
                                     "device_options": {"seed": 3}}

    @pytest.mark.parametrize("kwargs, error, match", [
        ({"shots": 0}, ValueError, r"shots must be None \(exact\) or a positive int; got 0"),
        ({"shots": True}, ValueError, r"shots must be None \(exact\) or a positive int; got True"),
        ({"diff_method": "magic"}, ValueError, r"diff_method must be one of 'best', .*; "
                                               r"got 'magic'"),
        ({"qml_device": ""}, ValueError, r"qml_device must be None \(the default device\) or a "
                                         r"non-empty PennyLane device name; got ''"),
        ({"qml_device": 3}, ValueError, r"qml_device must be None .*; got 3"),
        ({"device_options": "arn"}, TypeError, r"device_options must be a dict \(a table in a "
                                               r"config\); got str"),
        ({"device_options": {"api_key": "x"}}, ValueError,
         r"device_options must not contain credentials; got \['api_key'\]"),
        ({"qml_device": "braket.aws.qubit", "device_options": {"colour": "red"}}, ValueError,
         r"device_options for 'braket.aws.qubit' must be among .*; got \['colour'\]"),
    ])
    def test_invalid(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            ExecutionSpec(**kwargs)

    def test_frozen_and_options_copied(self):
        options = {"seed": 1}
        e = ExecutionSpec("default.qubit", device_options=options)
        options["seed"] = 2
        assert e.device_options == {"seed": 1}
        with pytest.raises(AttributeError):
            e.shots = 5

    def test_dict_round_trips(self):
        e = ExecutionSpec("default.qubit", 10, "spsa", {"seed": 1})
        assert ExecutionSpec.from_dict(e.to_dict()) == e
        spec = CircuitSpec(n_qubits=3, readout="z_zz")
        assert CircuitSpec.from_dict(spec.to_dict()) == spec

    def test_from_dict_lists_the_valid_keys(self):
        with pytest.raises(TypeError, match=r"ExecutionSpec keys must be among qml_device, "
                                            r"shots, diff_method, device_options; got 'device'"):
            ExecutionSpec.from_dict({"device": "default.qubit"})
