"""The fast exact simulator: the ``qattn.torch`` PennyLane device (``device``), its torch
kernel (``gates``, ``kernel``, ``measure``) and the recorded call path (``qnode``: a QNode whose
calls run a recording of the circuit, ``program``)."""

from circuits.fast.kernel import final_state
from circuits.fast.measure import measure_all, measure_state

__all__ = ["final_state", "measure_all", "measure_state"]
