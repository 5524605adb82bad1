"""What a model does on held-out data, and the baselines it is read against.

    evaluator.py  :func:`evaluate`: metrics and mean loss per task
    probe.py      the linear probe on the model's own features
    ranking.py    items ranked by a model's predicted interest, and how good the ranking is
    attend.py     which words of a text each task attends to
    plots.py      PNG plots: training curves, attention over words
"""

from __future__ import annotations

from qattn_hybrid.utils.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "TaskRun": "qattn_hybrid.evaluation.attend",
    "WordAttention": "qattn_hybrid.evaluation.attend",
    "aggregate_words": "qattn_hybrid.evaluation.attend",
    "task_weights": "qattn_hybrid.evaluation.attend",
    "token_words": "qattn_hybrid.evaluation.attend",
    "word_attention": "qattn_hybrid.evaluation.attend",
    "word_spans": "qattn_hybrid.evaluation.attend",
    "device_of": "qattn_hybrid.evaluation.evaluator",
    "evaluate": "qattn_hybrid.evaluation.evaluator",
    "evaluate_task": "qattn_hybrid.evaluation.evaluator",
    "model_targets": "qattn_hybrid.evaluation.evaluator",
    "primary_score": "qattn_hybrid.evaluation.evaluator",
    "attention_map": "qattn_hybrid.evaluation.plots",
    "plot_attention": "qattn_hybrid.evaluation.plots",
    "plot_training_curves": "qattn_hybrid.evaluation.plots",
    "plot_word_attention": "qattn_hybrid.evaluation.plots",
    "read_metrics": "qattn_hybrid.evaluation.plots",
    "save_figure": "qattn_hybrid.evaluation.plots",
    "ALPHA_GRID": "qattn_hybrid.evaluation.probe",
    "C_GRID": "qattn_hybrid.evaluation.probe",
    "ProbeResult": "qattn_hybrid.evaluation.probe",
    "fit_probe": "qattn_hybrid.evaluation.probe",
    "init_heads_from_probe": "qattn_hybrid.evaluation.probe",
    "pooled_features": "qattn_hybrid.evaluation.probe",
    "run_probe": "qattn_hybrid.evaluation.probe",
    "ItemTruth": "qattn_hybrid.evaluation.ranking",
    "RankedItem": "qattn_hybrid.evaluation.ranking",
    "evaluate_ranking": "qattn_hybrid.evaluation.ranking",
    "group_items": "qattn_hybrid.evaluation.ranking",
    "item_scores": "qattn_hybrid.evaluation.ranking",
    "rank_items": "qattn_hybrid.evaluation.ranking",
    "read_items": "qattn_hybrid.evaluation.ranking",
    "score_texts": "qattn_hybrid.evaluation.ranking",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
