# Shim: the device moved to circuits.fast.device. Installed entry-point metadata made before
# the move still names circuits.torch_device:TorchDevice; reinstalling drops the need.
from circuits.fast.device import TorchDevice  # noqa: F401
