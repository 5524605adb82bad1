"""``qattn export RUN_DIR --format onnx|torch [--quantize int8]``: a folded model that runs
without PennyLane.

The export folder (written atomically) holds:

    qattn_export.json   tasks (names, types, label lists) in output order, max_length, parity
    tokenizer/          the encoder's tokenizer files
    model.onnx | model.pt2   encoder + folded attention + heads (``graph.ServingGraph``)
    qattn_runtime.py    a standalone runner (numpy, transformers, onnxruntime or torch)

After writing, the artefact is loaded back and compared with the library's own predictions
(the circuit path) on the model's test texts: labels must be identical and probabilities
within 1e-5, or the export fails. ``--quantize int8`` (ONNX) quantizes the linear layers'
weights dynamically and measures what that changes (accuracy per task, largest probability
change), recorded in the manifest.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qattn_hybrid.serving import runtime
from qattn_hybrid.serving.graph import serving_graph
from qattn_hybrid.serving.predictor import ModelPredictor, task_manifest
from qattn_hybrid.utils.files import atomic_directory

__all__ = ["FORMATS", "ExportResult", "export_model", "check_texts"]

log = logging.getLogger(__name__)
FORMATS = {"onnx": ("model.onnx", "onnxruntime"), "torch": ("model.pt2", "torch.export")}
PARITY_TOLERANCE = 1e-5
MAX_CHECK_TEXTS = 64  # per task, for the parity check
MAX_QUANTIZE_TEXTS = 1000  # per task, to measure what int8 changes
SAMPLE_TEXTS = ["what is my credit card limit", "book me a flight to paris tomorrow",
                "shares of the bank rise after strong earnings", "i want to pay my bill",
                "is it going to rain today", "the market falls as rates climb"]


@dataclass
class ExportResult:
    path: Path
    manifest: dict


def load_model(run_dir):
    """The MultiTaskModel saved in a model, run or checkpoint folder."""
    from qattn_hybrid.modeling.model import MultiTaskModel
    from qattn_hybrid.utils.files import resolve_model_dir

    return MultiTaskModel.from_pretrained(resolve_model_dir(run_dir))


def check_texts(model, limit: int = MAX_CHECK_TEXTS) -> dict[str, tuple[list[str], list]]:
    """{task: (texts, labels or None)}: the test split of the model's recorded data (at most
    `limit` per task), or a few sample sentences for a task without one."""
    data = (model.metadata or {}).get("data")
    if data:
        try:
            from qattn_hybrid.config.sections import DataConfig
            from qattn_hybrid.data.loading import load_tasks

            tasks = load_tasks(DataConfig(**data).task_specs())
            out = {}
            for name, task in tasks.items():
                if name in model.tasks and "test" in task.splits:
                    split = task.split("test")
                    n = min(len(split), limit)
                    ids = split.labels[:n].tolist()
                    labels = [task.labels[i] for i in ids] if task.labels else ids
                    out[name] = (split.texts[:n], labels)
            return {name: out.get(name, (list(SAMPLE_TEXTS), None)) for name in model.tasks}
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("Test texts of the model's data unavailable (%s); using samples", err)
    return {name: (list(SAMPLE_TEXTS), None) for name in model.tasks}


def export_model(run_dir, output, fmt: str = "onnx", quantize: str | None = None) -> ExportResult:
    """Fold, export, reload and check the model in `run_dir`; write the folder `output`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}; got {fmt!r}")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8'; got {quantize!r}")
    if quantize and fmt != "onnx":
        raise ValueError(f"format must be 'onnx' with --quantize int8 (onnxruntime's dynamic "
                         f"quantization; torch.export cannot export torch's dynamically "
                         f"quantized linear layers); got {fmt!r}")
    model = load_model(run_dir)
    if model.config.mixer is not None and fmt == "torch":
        raise ValueError(f"format must be 'onnx' for a model with model.mixer = "
                         f"{model.config.mixer!r} (torch.export unrolls the GRU over one fixed "
                         f"number of tokens); got {fmt!r}")
    graph = serving_graph(model)
    artefact, runtime_name = FORMATS[fmt]
    checks = check_texts(model)
    with atomic_directory(output) as tmp:
        _write_artefact(graph, model, tmp / artefact, fmt)
        manifest = {"format": runtime.EXPORT_FORMAT, "version": 1, "artefact": artefact,
                    "runtime": runtime_name, "tasks": task_manifest(model),
                    "max_length": model.encoder.max_length,
                    "outputs": "per task: scores (B, C) or (B,), attention weights (B, H, T)",
                    "circuit": model.attention.spec.to_dict()}
        model.encoder.tokenizer.save_pretrained(str(tmp / "tokenizer"))
        shutil.copyfile(runtime.__file__, tmp / "qattn_runtime.py")
        _write_manifest(tmp, manifest)
        library = ModelPredictor(model)  # the circuit path, unfolded
        manifest["parity"] = check_parity(library, runtime.ExportedModel(tmp), checks)
        if quantize:
            manifest["quantization"] = _quantize(tmp, artefact,
                                                 check_texts(model, MAX_QUANTIZE_TEXTS))
        _write_manifest(tmp, manifest)
    return ExportResult(Path(output), manifest)


def _write_manifest(directory: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=2) + "\n"
    (directory / runtime.MANIFEST).write_text(text, encoding="utf-8")


def _write_artefact(graph, model, path: Path, fmt: str) -> None:
    enc = runtime.tokenize(model.encoder.tokenizer, SAMPLE_TEXTS[:2], model.encoder.max_length,
                           tensors="pt")
    args = (enc["input_ids"], enc["attention_mask"])
    batch = torch.export.Dim("batch")
    tokens = torch.export.Dim("tokens", max=max(model.encoder.max_length, 2))
    shapes = ({0: batch, 1: tokens}, {0: batch, 1: tokens})
    chatter = io.StringIO()  # the ONNX exporter prints progress; the library never prints
    with torch.no_grad(), contextlib.redirect_stdout(chatter), _quiet_exporters():
        if fmt == "torch":
            torch.export.save(torch.export.export(graph, args, dynamic_shapes=shapes), str(path))
        else:
            torch.onnx.export(graph, args, str(path), dynamo=True, dynamic_shapes=shapes,
                              input_names=["input_ids", "attention_mask"], verbose=False,
                              external_data=False)
    log.debug("%s", chatter.getvalue())


@contextlib.contextmanager
def _quiet_exporters():
    """The exporters' logs (one line per folded constant, "torchvision is not installed")
    and shape-name warnings off while exporting."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx",
                                                     "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.ERROR))  # "torchvision missing"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*axis name.*will not be used")
            warnings.filterwarnings("ignore", category=FutureWarning, module="copyreg")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _flatten(predictions: list[dict], task: str, key: str) -> np.ndarray:
    return np.array([list(p["tasks"][task][key].values()) if key == "probabilities"
                     else p["tasks"][task][key] for p in predictions], dtype=np.float64)


def check_parity(library: ModelPredictor, exported, checks: dict) -> dict:
    """Labels identical and scores within PARITY_TOLERANCE on every task's check texts."""
    report = {"texts": 0, "max_abs_diff": 0.0, "labels_identical": True}
    for task, (texts, _) in checks.items():
        ref, out = library.predict(texts, [task]), exported.predict(texts, [task])
        key = "prediction" if "prediction" in ref[0]["tasks"][task] else "probabilities"
        diff = float(np.abs(_flatten(ref, task, key) - _flatten(out, task, key)).max())
        attention = max(float(np.abs(np.array(r["tasks"][task]["attention"])
                                     - np.array(o["tasks"][task]["attention"])).max())
                        for r, o in zip(ref, out))
        same = [r["tasks"][task].get("label") == o["tasks"][task].get("label")
                for r, o in zip(ref, out)]
        report["texts"] += len(texts)
        report["max_abs_diff"] = max(report["max_abs_diff"], diff, attention)
        report["labels_identical"] &= all(same)
    if not report["labels_identical"] or report["max_abs_diff"] > PARITY_TOLERANCE:
        raise ValueError(f"the exported model must reproduce the library's predictions (labels "
                         f"identical, scores within {PARITY_TOLERANCE}); got {report}")
    return report


def _quantize(directory: Path, artefact: str, checks: dict) -> dict:
    """Replace the artefact by its int8 dynamic quantization; measure what it changes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = directory / artefact
    int8 = directory / f"int8-{artefact}"
    root = logging.getLogger()  # onnxruntime's quantizer logs one INFO line per tensor to root
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # and a "consider pre-processing" hint
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    before = runtime.ExportedModel(directory)
    int8.replace(fp32)
    after = runtime.ExportedModel(directory)
    report = {"weights": "int8 (dynamic, linear layers)", "tasks": {}}
    for task, (texts, labels) in checks.items():
        a, b = before.predict(texts, [task]), after.predict(texts, [task])
        entry = {"texts": len(texts)}
        if "label" in a[0]["tasks"][task]:
            pa = [p["tasks"][task]["label"] for p in a]
            pb = [p["tasks"][task]["label"] for p in b]
            entry["label_agreement"] = float(np.mean([x == y for x, y in zip(pa, pb)]))
            entry["max_probability_change"] = float(np.abs(
                _flatten(a, task, "probabilities") - _flatten(b, task, "probabilities")).max())
            if labels is not None:
                entry["accuracy_fp32"] = float(np.mean([x == y for x, y in zip(pa, labels)]))
                entry["accuracy_int8"] = float(np.mean([x == y for x, y in zip(pb, labels)]))
        else:
            entry["max_prediction_change"] = float(np.abs(
                _flatten(a, task, "prediction") - _flatten(b, task, "prediction")).max())
        report["tasks"][task] = entry
    return report
