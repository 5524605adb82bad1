"""The ``qattn`` command line: the only part of the library that prints.

    parser.py   the parser and :func:`main` (standard library only, so ``--help`` is instant)
    train.py    train, probe                  (a config: data, training, baselines)
    plan.py     train --dry-run               (a run validated and described, not started)
    models.py   eval, predict, rank           (a saved model)
    attend.py   attend                        (a saved model's attention over a text's words)
    circuit.py  draw, resources, cost         (a circuit: options or a config's [model.circuit])
    monitor.py  monitor                       (a live stream of texts, surge alerts)
    serve.py    export, serve, serve-ray      (handlers; the work is in ``qattn_hybrid.serving``)
    tables.py   the results table they print

Each handler module is imported only when its command runs.
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "build_parser": "qattn_hybrid.cli.parser",
    "main": "qattn_hybrid.cli.parser",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
