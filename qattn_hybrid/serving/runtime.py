"""Run an exported model (``qattn export``) without the library: no PennyLane, no qattn_hybrid.

This file imports only numpy, json, ``transformers`` (the tokenizer) and the runtime of the
artefact (``onnxruntime`` for ONNX, ``torch`` for ``torch.export``); ``qattn export`` copies it
into the export folder as ``qattn_runtime.py``:

    python qattn_runtime.py EXPORT_DIR "what is my card balance" ["text" ...]

    from qattn_runtime import ExportedModel
    model = ExportedModel(EXPORT_DIR)
    model.predict(["what is my card balance"])   # one dict per text, see ExportedModel.predict
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

MANIFEST = "qattn_export.json"
EXPORT_FORMAT = "qattn_hybrid.export"
BATCH = 64  # texts per forward pass in predict()


class ExportedModel:
    """A folder written by ``qattn export``: tokenizer, manifest and one model artefact."""

    def __init__(self, directory, threads: int | None = None):
        self.directory = Path(directory)
        path = self.directory / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"export folder {self.directory} holds no {MANIFEST}")
        self.manifest = json.loads(path.read_text(encoding="utf-8"))
        if self.manifest.get("format") != EXPORT_FORMAT:
            raise ValueError(f"{path} must describe a {EXPORT_FORMAT}; got "
                             f"{self.manifest.get('format')!r}")
        self.tasks = self.manifest["tasks"]  # [{name, task_type, labels, output}], output order
        self.max_length = int(self.manifest["max_length"])
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(self.directory / "tokenizer"),
                                                       local_files_only=True)
        self._run = _load(self.directory / self.manifest["artefact"], self.manifest["runtime"],
                          threads)

    def tokenize(self, texts: list[str]) -> dict:
        return tokenize(self.tokenizer, texts, self.max_length)

    def outputs(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> list[np.ndarray]:
        """The artefact's raw outputs: per task, scores (B, C) or (B,) and weights (B, H, T)."""
        return self._run(input_ids, attention_mask)

    def predict(self, texts: list[str], tasks: list[str] | None = None) -> list[dict]:
        """Per text: ``{"tokens", "truncated", "tasks": {name: {"label", "probabilities",
        "attention"}}}`` (``"prediction"`` instead of label and probabilities for regression;
        ``attention`` is (H, n_tokens))."""
        results = []
        for start in range(0, len(texts), BATCH):  # bounded memory for long lists
            enc = self.tokenize(texts[start:start + BATCH])
            raw = self.outputs(enc["input_ids"], enc["attention_mask"])
            results += format_predictions(self.tasks, raw, enc["tokens"], enc["truncated"], tasks)
        return results


def tokenize(tokenizer, texts: list[str], max_length: int, tensors: str = "np") -> dict:
    """Token ids and mask (B, T) int64 (numpy, or torch with ``tensors="pt"``), the tokens of
    each text, and which texts were cut at ``max_length``."""
    full = tokenizer(list(texts), truncation=False)["input_ids"]
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                    return_tensors="np")
    ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
    tokens = [tokenizer.convert_ids_to_tokens(row[m.astype(bool)].tolist())
              for row, m in zip(ids, mask)]
    if tensors == "pt":
        import torch

        ids, mask = torch.as_tensor(ids), torch.as_tensor(mask)
    return {"input_ids": ids, "attention_mask": mask, "tokens": tokens,
            "truncated": [len(f) > max_length for f in full]}


def format_predictions(tasks: list[dict], raw: list, tokens: list[list[str]],
                       truncated: list[bool], wanted: list[str] | None = None) -> list[dict]:
    """Turn per-task raw outputs (scores, weights) into one JSON-able dict per text."""
    results = [{"tokens": t, "truncated": bool(c), "tasks": {}} for t, c in zip(tokens, truncated)]
    for k, task in enumerate(tasks):
        if wanted is not None and task["name"] not in wanted:
            continue
        scores, weights = np.asarray(raw[2 * k]), np.asarray(raw[2 * k + 1])
        for i, result in enumerate(results):
            n = len(result["tokens"])
            entry = {"attention": weights[i][:, :n].tolist()}
            if output_kind(task) == "value":
                entry["prediction"] = float(scores[i])
            else:
                entry["label"] = task["labels"][int(np.argmax(scores[i]))]
                entry["probabilities"] = dict(zip(task["labels"], scores[i].tolist()))
            result["tasks"][task["name"]] = entry
    return results


def output_kind(task: dict) -> str:
    """What a task emits: "probabilities" over its labels or a "value" (exports written before
    the manifest said so: a value for regression tasks)."""
    if "output" in task:
        return task["output"]
    return "value" if task["task_type"] == "regression" else "probabilities"


def _load(path: Path, runtime: str, threads: int | None):
    if runtime == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = options.inter_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(ids, mask):
            return session.run(None, dict(zip(names, (ids, mask))))
        return run
    if runtime == "torch.export":
        import torch

        if threads:
            torch.set_num_threads(threads)
        module = torch.export.load(str(path)).module()

        def run(ids, mask):
            with torch.no_grad():
                out = module(torch.as_tensor(ids), torch.as_tensor(mask))
            return [o.numpy() for o in out]
        return run
    raise ValueError(f"runtime must be 'onnxruntime' or 'torch.export'; got {runtime!r}")


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: python qattn_runtime.py EXPORT_DIR TEXT [TEXT ...]\n")
        return 2
    model = ExportedModel(argv[0])
    for text, result in zip(argv[1:], model.predict(argv[1:])):
        labels = {name: entry.get("label", entry.get("prediction"))
                  for name, entry in result["tasks"].items()}
        sys.stdout.write(json.dumps({"text": text, **labels}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
