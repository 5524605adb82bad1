"""The torch simulation kernel behind the ``qattn.torch`` device (``circuits.torch_device``)."""

from circuits.fast.kernel import final_state
from circuits.fast.measure import measure_all, measure_state

__all__ = ["final_state", "measure_all", "measure_state"]
