"""Serving a trained model: export (ONNX, ``torch.export``) and ``qattn serve`` (HTTP).

    graph.py      the exportable tensor program (encoder, folded attention, heads)
    export.py     ``qattn export``: write, reload and check an export folder
    runtime.py    run an export folder without the library (copied into it)
    predictor.py  predictions of a loaded model in the serving format
    batching.py   dynamic batching of concurrent requests
    metrics.py    Prometheus counters, gauges and histograms
    alerts.yml    Prometheus alerting rules over those metrics (and ``qattn monitor``'s)
    samples.py    stored request samples (``--store-samples``), masked by default
    app.py        the FastAPI application (auth, validation, /v1/predict, health, metrics)
    ray_app.py    ``qattn serve-ray``: the app as Ray Serve replicas with autoscaling
    commands.py   the ``qattn export``, ``qattn serve`` and ``qattn serve-ray`` handlers
    static/       the web page (no external resources)

Nothing here is imported by ``import qattn_hybrid``; FastAPI and uvicorn (extra ``serve``) and
onnx/onnxruntime (extra ``export``) and Ray (extra ``ray``) load only when used.
"""
