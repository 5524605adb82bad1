"""On-disk result cache and circuit keys."""

import pennylane as qml

from circuits.hardware import ResultCache, tape_key


class TestCache:
    def test_round_trip_and_atomic(self, tmp_path):
        cache = ResultCache(tmp_path)
        cache.put("ab" * 32, (1.0, 0.5))
        cache.put("cd" * 32, 0.25)
        assert cache.get("ab" * 32) == (1.0, 0.5) and cache.get("cd" * 32) == 0.25
        assert cache.get("ef" * 32) is None and len(cache) == 2
        assert not list(tmp_path.glob("*/*.tmp"))

    def test_tape_key(self):
        def tape(x):
            return qml.tape.QuantumScript([qml.RY(x, 0)], [qml.expval(qml.Z(0))], shots=100)

        assert tape_key(tape(0.1), "dev") == tape_key(tape(0.1), "dev")
        assert tape_key(tape(0.1), "dev") != tape_key(tape(0.1 + 1e-15), "dev")
        assert tape_key(tape(0.1), "dev") != tape_key(tape(0.1), "other")
