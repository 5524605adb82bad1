"""``qattn draw``, ``resources`` and ``cost``: the attention circuit, without a model.

The circuit is the config's ``[model.circuit]`` (with one task per ``data.tasks`` entry) when
a CONFIG is given, else CircuitSpec's defaults; each ``--n-qubits``-style option overrides one
field.
"""

from __future__ import annotations

import dataclasses
import json

__all__ = ["circuit_spec", "cost", "draw", "resources"]

CIRCUIT_OPTIONS = ("n_qubits", "n_layers", "n_tasks", "ansatz", "conditioning", "rotation",
                   "readout", "reupload")


def circuit_spec(args):
    """The CircuitSpec the command line describes (validated by CircuitSpec itself)."""
    from circuits import CircuitSpec

    spec = CircuitSpec()
    if args.config:
        from qattn_hybrid.config.sections import load_config

        config = load_config(args.config)
        spec = config.model.circuit_spec(len(config.data.tasks))
    overrides = {name: getattr(args, name) for name in CIRCUIT_OPTIONS
                 if getattr(args, name) is not None}
    return dataclasses.replace(spec, **overrides)


def draw(args) -> int:
    from circuits import draw as draw_circuit

    print(draw_circuit(circuit_spec(args)))
    return 0


def resources(args) -> int:
    from circuits import resources as count_resources

    print(json.dumps(count_resources(circuit_spec(args)), indent=2))
    return 0


def cost(args) -> int:
    from circuits.hardware import PriceTable, estimate_cost

    prices = None
    if args.price_per_task is not None or args.price_per_shot is not None:
        prices = PriceTable(args.price_per_task or 0.0, args.price_per_shot or 0.0, args.currency)
    estimate = estimate_cost(circuit_spec(args), args.tokens, args.diff_method, args.shots,
                             args.qml_device, prices, max_executables=args.max_executables)
    print(json.dumps(estimate.to_dict(), indent=2))
    return 0
