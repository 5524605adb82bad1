"""Per-task model selection (``training.selection = "per_task"``).

Joint selection (the default) keeps one best epoch for the whole model, by the monitored score
(the mean of the tasks' main validation metrics, or one task's). Per-task selection also keeps,
for every task, the whole model as it was at that task's own best validation epoch, in
``<output_dir>/best_per_task/<task>/``, and reports each task's test metrics with its own
snapshot. This is sound because each snapshot is a complete model (shared encoder, attention
and all heads from one epoch): nothing is stitched together from different epochs. The price is
one saved model per task (small with a frozen encoder: the encoder is stored as a reference).
The best epochs are recomputed from the run's history, so a resumed run continues correctly.
"""

from __future__ import annotations

import math

__all__ = ["PER_TASK_DIR", "best_epochs", "save_improved", "test_per_task"]

PER_TASK_DIR = "best_per_task"


def best_epochs(model, history: list[dict]) -> dict[str, int]:
    """Task -> 1-based epoch with the best validation main metric (earliest on ties)."""
    best: dict[str, tuple[float, int]] = {}
    for record in history:
        for task, metrics in record.get("validation", {}).items():
            if task not in model.tasks or len(metrics) <= 1:  # only a loss: no validation split
                continue
            score = model.tasks[task].selection_score(metrics)
            if score > best.get(task, (-math.inf, 0))[0]:
                best[task] = (score, record["epoch"])
    return {task: epoch for task, (_, epoch) in best.items()}


def save_improved(trainer, record: dict) -> list[str]:
    """After an epoch: save the model for every task whose best epoch is this one."""
    improved = [task for task, epoch in best_epochs(trainer.model, trainer.history).items()
                if epoch == record["epoch"]]
    if trainer.is_writer:
        for task in improved:
            trainer.model.save_pretrained(trainer.output_dir / PER_TASK_DIR / task)
    return improved


def test_per_task(trainer, evaluate, split: str = "test") -> tuple[dict, dict[str, int]]:
    """Each task's ``split`` metrics with its own best snapshot; the model is left as it was."""
    from qattn_hybrid.utils.files import read_safetensors

    model = trainer.model
    current = {k: v.detach().clone() for k, v in model.state_dict().items()}
    epochs = best_epochs(model, trainer.history)
    results = {}
    try:
        for task, epoch in epochs.items():
            folder = trainer.output_dir / PER_TASK_DIR / task
            if (split not in trainer.tasks[task].splits
                    or not (folder / "model.safetensors").is_file()):
                continue
            device = next(model.parameters()).device
            model.load_weights(read_safetensors(folder / "model.safetensors", device=device),
                                folder)
            results.update(evaluate(model, {task: trainer.tasks[task]}, split,
                                    trainer.config.training.eval_batch_size))
    finally:
        model.load_state_dict(current)
    return results, epochs
