import pytest

from circuits import Ansatz, CircuitSpec, Conditioning, Readout, Rotation


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
