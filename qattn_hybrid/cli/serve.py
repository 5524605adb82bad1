"""Handlers of ``qattn export``, ``qattn serve`` and ``qattn serve-ray`` (called by
qattn_hybrid.cli.parser, which prints)."""

from __future__ import annotations

import logging

__all__ = ["export_command", "serve_command", "serve_ray_command"]

log = logging.getLogger(__name__)


def _need(module: str, extra: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImportError(f"this command needs {module}; install it with: "
                          f"pip install 'qattn-hybrid[{extra}]'")


def export_command(args) -> list[str]:
    """Export; returns the lines to print (where, parity, what int8 changed)."""
    if args.format == "onnx":
        for module in ("onnx", "onnxruntime", "onnxscript"):
            _need(module, "export")
    from qattn_hybrid.serving.export import export_model

    output = args.output or f"{args.run_dir.rstrip('/')}/export-{args.format}"
    result = export_model(args.run_dir, output, args.format, args.quantize)
    p = result.manifest["parity"]
    lines = [f"Exported {result.manifest['artefact']} ({result.manifest['runtime']}) to "
             f"{result.path}",
             f"Parity with the library on {p['texts']} test texts: labels identical "
             f"{p['labels_identical']}, max |difference| {p['max_abs_diff']:.2e}"]
    for task, q in result.manifest.get("quantization", {}).get("tasks", {}).items():
        if "accuracy_fp32" in q:
            lines.append(f"int8 {task}: accuracy {100 * q['accuracy_fp32']:.1f} -> "
                         f"{100 * q['accuracy_int8']:.1f} % on {q['texts']} test texts "
                         f"(labels agree {100 * q['label_agreement']:.1f} %, max probability "
                         f"change {q['max_probability_change']:.2e})")
        elif "label_agreement" in q:
            lines.append(f"int8 {task}: labels agree {100 * q['label_agreement']:.1f} % "
                         f"(max probability change {q['max_probability_change']:.2e})")
        else:
            lines.append(f"int8 {task}: max prediction change {q['max_prediction_change']:.2e}")
    return lines


def serve_command(args, say) -> None:
    """Run the server until interrupted (blocking); `say(line)` prints the startup lines."""
    _need("fastapi", "serve")
    _need("uvicorn", "serve")
    from qattn_hybrid.serving.app import run_server

    run_server(_server_settings(args), say)


def serve_ray_command(args, say) -> None:
    """Deploy on Ray Serve and serve until interrupted; the settings are checked before Ray
    is needed or started."""
    _need("fastapi", "serve")
    _need("uvicorn", "serve")
    from qattn_hybrid.serving.ray_app import ScalingSettings, run_ray_server

    settings = _server_settings(args)
    scaling = ScalingSettings(
        min_replicas=args.min_replicas, max_replicas=args.max_replicas,
        target_ongoing_requests=args.target_ongoing_requests,
        max_ongoing_requests=args.max_ongoing_requests, upscale_delay_s=args.upscale_delay_s,
        downscale_delay_s=args.downscale_delay_s, cpus_per_replica=args.cpus_per_replica)
    settings.check()
    scaling.check()
    _need("ray", "ray")
    run_ray_server(settings, scaling, args.address, say)


def _server_settings(args):
    from qattn_hybrid.serving.app import ServerSettings

    return ServerSettings(run_dir=args.run_dir, host=args.host, port=args.port,
                          api_key_file=args.api_key_file, max_batch=args.max_batch,
                          max_wait_ms=args.max_wait_ms, fold=not args.no_fold,
                          max_texts=args.max_texts, max_bytes=args.max_bytes,
                          store_samples=args.store_samples, max_samples=args.max_samples,
                          mask=not args.no_mask)
