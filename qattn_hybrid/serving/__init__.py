"""A trained model in production: export (ONNX, ``torch.export``), ``qattn serve`` (HTTP),
``qattn monitor``.

    graph.py         the exportable tensor program (encoder, folded attention, heads)
    export.py        ``qattn export``: write, reload and check an export folder
    runtime.py       run an export folder without the library (copied into it)
    predictor.py     predictions of a loaded model in the serving format
    batching.py      dynamic batching of concurrent requests
    metrics.py       Prometheus counters, gauges and histograms
    alerts.yml       Prometheus alerting rules over those metrics (and ``qattn monitor``'s)
    masking.py       masking personal data (emails, phone, card and account numbers) in texts
    samples.py       stored request samples (``--store-samples``), masked by default
    app.py           the FastAPI application (auth, validation, /v1/predict, health, metrics)
    ray_app.py       ``qattn serve-ray``: the app as Ray Serve replicas with autoscaling
    monitor.py       rolling per-topic sentiment and surge alerts (pure logic)
    monitor_plot.py  the trend plot of ``qattn monitor --plot``
    static/          the web page (no external resources)

Nothing here is imported by ``import qattn_hybrid``; FastAPI and uvicorn (extra ``serve``),
onnx/onnxruntime (extra ``export``) and Ray (extra ``ray``) load only when used.
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "ServerSettings": "qattn_hybrid.serving.app",
    "create_app": "qattn_hybrid.serving.app",
    "load_predictor": "qattn_hybrid.serving.app",
    "read_api_key": "qattn_hybrid.serving.app",
    "run_server": "qattn_hybrid.serving.app",
    "DynamicBatcher": "qattn_hybrid.serving.batching",
    "ExportResult": "qattn_hybrid.serving.export",
    "FORMATS": "qattn_hybrid.serving.export",
    "check_texts": "qattn_hybrid.serving.export",
    "export_model": "qattn_hybrid.serving.export",
    "ServingGraph": "qattn_hybrid.serving.graph",
    "serving_graph": "qattn_hybrid.serving.graph",
    "MaskingFilter": "qattn_hybrid.serving.masking",
    "PLACEHOLDERS": "qattn_hybrid.serving.masking",
    "iban_valid": "qattn_hybrid.serving.masking",
    "luhn_valid": "qattn_hybrid.serving.masking",
    "mask_pii": "qattn_hybrid.serving.masking",
    "Metrics": "qattn_hybrid.serving.metrics",
    "ALL": "qattn_hybrid.serving.monitor",
    "Alert": "qattn_hybrid.serving.monitor",
    "MonitorConfig": "qattn_hybrid.serving.monitor",
    "SurgeDetector": "qattn_hybrid.serving.monitor",
    "TopicStats": "qattn_hybrid.serving.monitor",
    "load_monitor_config": "qattn_hybrid.serving.monitor",
    "render_metrics": "qattn_hybrid.serving.monitor",
    "topics_of": "qattn_hybrid.serving.monitor",
    "plot_trend": "qattn_hybrid.serving.monitor_plot",
    "trend_figure": "qattn_hybrid.serving.monitor_plot",
    "trend_topics": "qattn_hybrid.serving.monitor_plot",
    "ModelPredictor": "qattn_hybrid.serving.predictor",
    "task_manifest": "qattn_hybrid.serving.predictor",
    "APP_NAME": "qattn_hybrid.serving.ray_app",
    "QattnReplica": "qattn_hybrid.serving.ray_app",
    "ScalingSettings": "qattn_hybrid.serving.ray_app",
    "deploy": "qattn_hybrid.serving.ray_app",
    "replica_count": "qattn_hybrid.serving.ray_app",
    "run_ray_server": "qattn_hybrid.serving.ray_app",
    "SampleStore": "qattn_hybrid.serving.samples",
    "sample_record": "qattn_hybrid.serving.samples",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
