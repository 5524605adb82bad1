"""The ``qattn`` subcommands' handlers, one module per group (``qattn_hybrid.cli`` parses the
command line and imports the handler it needs only when it runs):

    train.py    train, probe                  (a config: data, training, baselines)
    models.py   eval, predict, rank           (a saved model)
    attend.py   attend                        (a saved model's attention over a text's words)
    circuit.py  draw, resources, cost         (a circuit: options or a config's [model.circuit])
    tables.py   the results table they print

Serving's handlers (export, serve) live in ``qattn_hybrid.serving.commands``. With ``cli.py``
these are the only modules of the library that print.
"""
