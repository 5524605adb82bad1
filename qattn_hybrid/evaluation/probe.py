"""The linear probe: the first baseline a practitioner runs, on the model's own features.

    features = pooled_features(encoder, texts)        # (N, D) masked mean of token features
    result = fit_probe(task, features_by_split)       # C (or alpha) tuned on validation
    result.metrics["test"]["accuracy"]

Same frozen encoder, same cached token features, same ``max_length`` and the same splits as the
model: the masked mean over real tokens (special tokens included), L2-normalised, then
scikit-learn's ``LogisticRegression`` for classification (C picked on the validation split's
accuracy, from :data:`C_GRID`) or ``Ridge`` for regression (alpha picked on validation MSE,
from :data:`ALPHA_GRID`). Without a validation split the middle of the grid is used.

:func:`run_probe` does it for every task of a config (``qattn probe CONFIG``); scikit-learn is
the extra ``probe``. The probe and a mean-pool model beside a trained run:
:mod:`qattn_hybrid.training.baselines`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from qattn_hybrid.tasks.kinds import task_class, task_from_data

__all__ = ["ALPHA_GRID", "C_GRID", "ProbeResult", "fit_probe", "init_heads_from_probe",
           "pooled_features", "run_probe"]

log = logging.getLogger(__name__)
C_GRID = (0.1, 1.0, 10.0, 100.0)  # inverse L2 strength of the logistic regression
ALPHA_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)  # ridge strength


@dataclass
class ProbeResult:
    task: str
    param: float  # the chosen C (classification) or alpha (regression)
    scores: dict = field(default_factory=dict)  # C or alpha -> validation score
    metrics: dict = field(default_factory=dict)  # split -> metric -> value
    seconds: float = 0.0
    model: object = field(default=None, repr=False)  # the fitted scikit-learn estimator


@torch.no_grad()
def pooled_features(encoder, texts: Sequence[str], batch_size: int = 512) -> torch.Tensor:
    """(N, D) float32: the masked mean of the token features of ``texts``, L2-normalised.

    ``encoder`` maps a list of texts to ``(features (B, T, D), mask (B, T))``: a frozen
    :class:`~qattn_hybrid.modeling.encoders.TextEncoder` (cached features) or its cache's
    ``encode``.
    """
    rows = []
    for start in range(0, len(texts), batch_size):
        features, mask = encoder(list(texts[start : start + batch_size]))
        m = mask[..., None].to(features.dtype)
        mean = (features * m).sum(1) / m.sum(1).clamp(min=1)
        rows.append(mean.float().cpu())
    return F.normalize(torch.cat(rows), dim=-1)


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression, Ridge
    except ImportError:
        raise ImportError("the linear probe needs scikit-learn; install it with: "
                          "pip install 'qattn-hybrid[probe]'") from None
    return LogisticRegression, Ridge


def fit_probe(task, features: Mapping[str, torch.Tensor], labels=None,
              grid: Sequence[float] | None = None) -> ProbeResult:
    """Fit the probe of one task on train, tune on validation, score every split.

    task: a :class:`~qattn_hybrid.data.loading.TaskData` (its splits give the targets, its labels
        the metrics) ; features: split -> (N, D) pooled features in the split's row order.
    """
    LogisticRegression, Ridge = _sklearn()
    start = time.perf_counter()
    regression = task_class(task.spec.task_type).probe == "ridge"  # else logistic
    grid = tuple(grid or (ALPHA_GRID if regression else C_GRID))
    x = {s: features[s].double().numpy() for s in features}
    y = {s: task.split(s).labels.numpy() for s in features}
    if not regression and len(np.unique(y["train"])) < 2:
        raise ValueError(f"Task {task.name!r}: the probe's train split must have at least 2 "
                         f"labels; got {len(np.unique(y['train']))}")
    info = task_from_data(task)  # its metrics, selection score and targets

    # one logistic model refitted from its last solution as C grows (warm start: far fewer
    # L-BFGS iterations than a cold fit per C); ridge is closed-form
    warm = None if regression else LogisticRegression(max_iter=2000, warm_start=True)

    def make(param: float):
        if regression:
            return Ridge(alpha=param)
        return warm.set_params(C=param)

    def predict(model, split: str) -> torch.Tensor:
        """Ridge: values (N,). Logistic: log-probabilities (N, C) in label-id order (a class
        absent from train gets -inf), so score-based metrics (ROC-AUC) get the probe's scores."""
        if regression:
            return torch.as_tensor(model.predict(x[split]))
        log_p = np.full((len(x[split]), len(task.labels)), -np.inf)
        log_p[:, model.classes_] = model.predict_log_proba(x[split])
        return torch.as_tensor(log_p)

    def score(model, split: str) -> float:  # higher is better
        return info.selection_score(info.evaluate(predict(model, split), targets(split)))

    def targets(split: str):
        return info.targets(task.labels, task.split(split).labels)

    scores, model = {}, None
    if "validation" in x and len(grid) > 1:
        for param in sorted(grid):
            fitted = make(param).fit(x["train"], y["train"])
            scores[param] = score(fitted, "validation")
            if model is None or scores[param] > max(v for k, v in scores.items() if k != param):
                model = copy.deepcopy(fitted)  # ties keep the smaller C / alpha
        best = max(sorted(grid), key=lambda p: (scores[p], -p))
    else:
        best = grid[len(grid) // 2]
        model = make(best).fit(x["train"], y["train"])
    out = {s: info.evaluate(predict(model, s), targets(s)) for s in x}
    return ProbeResult(task.name, best, scores, out, time.perf_counter() - start, model)


def run_probe(config, tasks=None, encoder=None) -> dict[str, ProbeResult]:
    """The probe of every task of a :class:`~qattn_hybrid.config.sections.Config`, on its features.

    ``tasks`` (loaded data) and ``encoder`` (a frozen TextEncoder) default to the config's.
    """
    from qattn_hybrid.data.loading import load_tasks
    from qattn_hybrid.modeling.model import load_text_encoder

    if tasks is None:
        tasks = load_tasks(config.data.task_specs())
    if encoder is None:
        encoder = load_text_encoder(_frozen(config.model), config.data.cache_dir)
    if encoder.cache is None:
        raise ValueError("the probe needs a frozen encoder (model.freeze_encoder = true); "
                         "got a fine-tuned one")
    encoder.cache.warm([t for task in tasks.values() for s in task.splits.values()
                        for t in s.texts])
    results = {}
    for name, task in tasks.items():
        features = {s: pooled_features(encoder.cache.encode, split.texts)
                    for s, split in task.splits.items()}
        results[name] = fit_probe(task, features)
        log.info("probe %s: %s = %g (%.1f s)", name,
                 "alpha" if task_class(task.spec.task_type).probe == "ridge" else "C",
                 results[name].param, results[name].seconds)
    return results


def _frozen(model_config):
    import dataclasses

    return dataclasses.replace(model_config, freeze_encoder=True)


# --------------------------------------------------------------------------- heads from the probe
@torch.no_grad()
def init_heads_from_probe(trainer) -> dict[str, float]:
    """Linear probing, then training (LP-FT): every head starts as its task's fitted probe.

    With ``normalize_pooled`` and attention that starts as mean pooling (every kind does), the
    model at step 0 computes exactly the probe's predictions; training then moves the
    attention and heads from there. A fine-tuned encoder is probed on its weights at this
    point (the pretrained ones at epoch 0: the shared feature cache applies), then trained.
    The fits are kept in ``trainer.probes`` (fitted here only when the trainer has none yet),
    so the baselines reuse them. Returns task -> the chosen C (or alpha).
    """
    model, config = trainer.model, trainer.config
    if not config.model.normalize_pooled or config.model.head_hidden:
        raise ValueError("training.init_heads = 'probe' needs model.normalize_pooled = true and "
                         f"linear heads (model.head_hidden = 0); got normalize_pooled = "
                         f"{config.model.normalize_pooled}, head_hidden = "
                         f"{config.model.head_hidden}")
    if config.model.mixer is not None:
        raise ValueError(f"training.init_heads = 'probe' needs model.mixer = None (the probe "
                         f"is fitted on the encoder's features, the heads read the mixer's); "
                         f"got mixer = {config.model.mixer!r}")
    results = trainer.probes
    if results is None:
        encoder = model.encoder
        if encoder.cache is None:  # fine-tuned: probe the encoder's weights as they are now
            from types import SimpleNamespace

            from qattn_hybrid.modeling.encoders import TokenFeatureCache

            encoder = SimpleNamespace(cache=TokenFeatureCache(
                encoder.model, encoder.tokenizer, cache_dir=config.data.cache_dir,
                max_length=encoder.max_length, layers=encoder.layers))
        results = trainer.probes = run_probe(config, trainer.tasks, encoder)
    for name, result in results.items():
        head, fitted = model.heads[name], result.model
        coef = torch.as_tensor(np.atleast_2d(fitted.coef_), dtype=head.weight.dtype)
        bias = torch.as_tensor(np.atleast_1d(fitted.intercept_), dtype=head.bias.dtype)
        if head.out_features == 2 and coef.shape[0] == 1:  # binary: logits (0, w·x + b)
            coef = torch.cat([torch.zeros_like(coef), coef])
            bias = torch.cat([torch.zeros_like(bias), bias])
        head.weight.copy_(coef.to(head.weight.device))
        head.bias.copy_(bias.to(head.bias.device))
    return {name: r.param for name, r in results.items()}

