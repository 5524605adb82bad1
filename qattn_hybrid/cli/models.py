"""``qattn eval``, ``predict`` and ``rank``: what a saved model does on data or texts.

CHECKPOINT is a saved model folder (``config.json`` + ``model.safetensors``), a training run's
output folder (its ``best/`` model is used) or one of its ``checkpoints/epoch-*`` folders.
"""

from __future__ import annotations

import json
from pathlib import Path

from qattn_hybrid.cli.tables import table

__all__ = ["evaluate", "load_model", "predict", "quiet_transformers", "rank"]


def quiet_transformers() -> None:
    """transformers' own weight-loading bars and chatter off (for commands that load models)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def load_model(path):
    """The model CHECKPOINT names, with the feature cache its run used (if recorded)."""
    from qattn_hybrid.modeling.model import MultiTaskModel
    from qattn_hybrid.utils.files import read_json, resolve_model_dir

    quiet_transformers()
    model_dir = resolve_model_dir(path)
    meta = read_json(model_dir / "config.json", "model config")
    cache_dir = ((meta.get("metadata") or {}).get("data") or {}).get("cache_dir")  # reuse features
    return MultiTaskModel.from_pretrained(model_dir, cache_dir=cache_dir)


def evaluate(args) -> int:
    from qattn_hybrid.config.sections import DataConfig, load_config
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.evaluation.evaluator import evaluate as evaluate_model

    model = load_model(args.checkpoint)
    if args.config:
        data = load_config(args.config).data
    elif "data" in model.metadata:
        data = DataConfig(**model.metadata["data"])
    else:
        raise ValueError("the model does not record its data; pass --config CONFIG")
    tasks = load_tasks(data.task_specs())
    results = evaluate_model(model, tasks, args.split)
    if not results:
        raise ValueError(f"no task has a {args.split!r} split")
    baselines = _baselines_of(args.checkpoint)
    if baselines and not args.json:
        from qattn_hybrid.training.baselines import beside

        results = beside(results, baselines, args.split)
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


def _baselines_of(checkpoint) -> dict | None:
    """The probe / mean-pool results `qattn train` wrote beside a run (None when absent)."""
    for folder in (Path(checkpoint), Path(checkpoint).parent):
        path = folder / "baselines.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def predict(args) -> int:
    for i, text in enumerate(args.texts):  # before anything is loaded or printed
        if not text.strip():
            raise ValueError(f"text {i + 1} must be a non-empty str (not only whitespace); "
                             f"got {text!r}")
    model = load_model(args.checkpoint)
    model.task_id(args.task)  # unknown task: error listing the model's tasks
    labels = model.predict(args.texts, args.task)
    for text, label in zip(args.texts, labels):
        print(f"{label}\t{text}")
        if args.attention:
            from qattn_hybrid.evaluation.plots import attention_map

            tokens, _, w = attention_map(model, text, [args.task])
            print("\t" + " ".join(f"{t}:{float(v):.2f}" for t, v in zip(tokens, w[0])))
    if args.plot:
        from qattn_hybrid.evaluation.plots import plot_attention

        print(f"Attention heatmap: {plot_attention(model, args.texts[0], args.plot)}")
    return 0


def rank(args) -> int:
    from qattn_hybrid.evaluation.ranking import rank_items, read_items

    if args.top is not None and args.top < 1:
        raise ValueError(f"--top must be >= 1; got {args.top}")
    items = read_items(args.items)
    model = load_model(args.checkpoint)
    ranked = rank_items(model, items, args.task, label=args.label)[: args.top]
    if args.json:
        for item in ranked:
            print(json.dumps(item._asdict()))
        return 0
    print(f"{'rank':>4}  {'score':>7}  {'texts':>5}  id")
    for item in ranked:
        print(f"{item.rank:>4}  {item.score:>7.3f}  {item.n_texts:>5}  {item.id}")
    return 0
