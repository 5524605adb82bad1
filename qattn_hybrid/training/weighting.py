"""Loss weighting for multi-task training: how task losses become one backward pass.

One small class per method, built by name from :data:`WEIGHTINGS` with :func:`make_weighting`.
The trainer calls, every step::

    stats = weighting.backward(losses, shared_params)   # instead of loss.backward()
    optimizer.step()                                     # optimizer also holds
                                                         # weighting.parameters()

and once per epoch ``weighting.end_epoch()``. In detail:

* ``losses``: ``{task_name: scalar loss}`` for the tasks of this step: any non-empty subset of
  the weighting's tasks (a task sampler gives one task per step; tasks that share inputs, like the
  three CLINC150 tasks, can give several).
* ``shared_params``: the parameters every task uses (encoder if fine-tuned, attention's shared
  weights). GradNorm measures gradient norms on them (pass only the last shared layer to make it
  cheap); the Jacobian methods aggregate the per-task gradients on them.
* ``task_params`` (keyword, Jacobian methods only): every trainable parameter that is *not*
  shared. They get the plain sum of the task gradients. Without it, only ``shared_params`` get
  gradients from a Jacobian method.
* returns ``{"loss": total, "weight/<task>": w, ...}`` as floats for logging.
* ``weighting.parameters()`` (uncertainty, GradNorm) must be in the optimizer;
  ``weighting.state_dict()`` / ``load_state_dict()`` hold everything for an exact resume.

Methods: ``equal`` (sum); ``uncertainty`` (Kendall, Gal & Cipolla 2018: learned log-variances
s_k, total = Σ L_k / (2 e^{s_k}) + s_k / 2); ``dwa`` (Liu, Johns & Davison 2019: weights from the
ratio of each task's last two epoch-mean losses, temperature 2); ``gradnorm`` (Chen et al. 2018:
learned weights pulled toward equal gradient norms scaled by relative inverse training rates^α);
and the Jacobian-descent aggregators of ``torchjd`` (extra ``mtl``): ``pcgrad`` (Yu et al. 2020),
``upgrad`` (Quinton & Rey 2024), ``mgda`` (Désidéri 2012; Sener & Koltun 2018), ``imtl_g``
(Liu et al. 2021), ``aligned_mtl`` (Senushkin et al. 2023), ``dualproj``, ``graddrop``
(Chen et al. 2020), ``cagrad`` (Liu et al. 2021; needs cvxpy: ``pip install 'torchjd[cagrad]'``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

__all__ = [
    "DWA",
    "WEIGHTINGS",
    "EqualWeighting",
    "GradNorm",
    "JacobianWeighting",
    "LossWeighting",
    "UncertaintyWeighting",
    "make_weighting",
]

TORCHJD_VERSION = "0.18.0"  # the version pinned by the extra `mtl`


class LossWeighting(nn.Module):
    """Base class: weights per task, combined into one backward pass."""

    name: ClassVar[str] = ""
    # True when backward() writes .grad itself rather than through one autograd backward, so
    # DDP's gradient hooks miss it: the trainer then averages gradients over ranks by hand.
    writes_grads_itself: ClassVar[bool] = False

    def __init__(self, tasks: Sequence[str]):
        super().__init__()
        tasks = list(tasks)
        if not tasks or len(set(tasks)) != len(tasks) or not all(isinstance(t, str) for t in tasks):
            raise ValueError(f"tasks must be a non-empty list of distinct names; got {tasks!r}")
        self.tasks = tasks

    def _check(self, losses: Mapping[str, torch.Tensor]) -> None:
        if not losses:
            raise ValueError("losses must hold at least one task's loss; got an empty mapping")
        for task, loss in losses.items():
            if task not in self.tasks:
                raise KeyError(f"Unknown task {task!r}. Available: {', '.join(self.tasks)}")
            if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                raise ValueError(f"loss of task {task!r} must be a scalar tensor; got "
                                 f"{type(loss).__name__}{tuple(getattr(loss, 'shape', ()))}")

    def weights(self, losses: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Weight of each task in ``losses`` (detached unless the method learns it)."""
        raise NotImplementedError

    def backward(self, losses: Mapping[str, torch.Tensor],
                 shared_params: Iterable[torch.Tensor] | None = None, **_: Any) -> dict[str, float]:
        """Backward of Σ_k w_k L_k; see the module docstring."""
        self._check(losses)
        weights = self.weights(losses)
        total = sum(weights[t] * losses[t] for t in losses)
        total.backward()
        return _stats(losses, weights, total)

    def end_epoch(self) -> None:
        """Called by the trainer after each epoch (DWA updates its weights here)."""


def _stats(losses, weights, total) -> dict[str, float]:
    stats = {"loss": float(total.detach())}
    stats.update({f"weight/{t}": float(weights[t].detach()) for t in losses})
    return stats


class EqualWeighting(LossWeighting):
    """Every task weight 1: backward of Σ_k L_k."""

    name = "equal"

    def weights(self, losses):
        return {t: torch.ones((), device=losses[t].device) for t in losses}


class UncertaintyWeighting(LossWeighting):
    """Kendall et al. 2018: total = Σ_k L_k / (2 e^{s_k}) + s_k / 2, s_k learned (init 0).

    The reported weight of task k is 1 / (2 e^{s_k}) (0.5 at the start).
    """

    name = "uncertainty"

    def __init__(self, tasks: Sequence[str], init_log_var: float = 0.0):
        super().__init__(tasks)
        self.log_var = nn.Parameter(torch.full((len(self.tasks),), float(init_log_var)))

    def weights(self, losses):
        return {t: 0.5 * torch.exp(-self.log_var[self.tasks.index(t)]) for t in losses}

    def backward(self, losses, shared_params=None, **_):
        self._check(losses)
        weights = self.weights(losses)
        total = sum(weights[t] * losses[t] + 0.5 * self.log_var[self.tasks.index(t)]
                    for t in losses)
        total.backward()
        return _stats(losses, weights, total)


class DWA(LossWeighting):
    """Dynamic Weight Average (Liu et al. 2019): w_k = K softmax_k(r_k / T), T = 2 by default.

    r_k = mean loss of task k in epoch e-1 / mean loss in epoch e-2, from the losses this object
    sees in :meth:`backward`; every weight is 1 until two epochs are done (and for a task that
    had no step in one of them).
    """

    name = "dwa"

    def __init__(self, tasks: Sequence[str], temperature: float = 2.0):
        super().__init__(tasks)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature!r}")
        self.temperature = float(temperature)
        K = len(self.tasks)
        self.register_buffer("epoch_sum", torch.zeros(K, dtype=torch.float64))
        self.register_buffer("epoch_count", torch.zeros(K, dtype=torch.long))
        self.register_buffer("history", torch.full((2, K), float("nan"), dtype=torch.float64))
        self.register_buffer("current", torch.ones(K, dtype=torch.float64))

    def weights(self, losses):
        return {t: self.current[self.tasks.index(t)].to(losses[t]) for t in losses}

    def backward(self, losses, shared_params=None, **_):
        stats = super().backward(losses, shared_params)
        for t, loss in losses.items():
            k = self.tasks.index(t)
            self.epoch_sum[k] += float(loss.detach())
            self.epoch_count[k] += 1
        return stats

    def end_epoch(self) -> None:
        mean = torch.where(self.epoch_count > 0, self.epoch_sum / self.epoch_count.clamp(min=1),
                           torch.full_like(self.epoch_sum, float("nan")))
        self.history.copy_(torch.stack([self.history[1], mean]))  # [e-2, e-1]
        ratio = self.history[1] / self.history[0]
        ratio = torch.where(torch.isfinite(ratio), ratio, torch.ones_like(ratio))
        K = len(self.tasks)
        self.current.copy_(K * torch.softmax(ratio / self.temperature, dim=0))
        self.epoch_sum.zero_()
        self.epoch_count.zero_()


class GradNorm(LossWeighting):
    """GradNorm (Chen et al. 2018), with learned task weights w_k (init 1, Σ w_k = K).

    At each step with tasks S: g_k = ||∇_W L_k|| on ``shared_params`` W; G_k = w_k g_k;
    r_k = (L_k / L_k(0)) / mean_{j∈S}(L_j / L_j(0)); the weights get the gradient of
    Σ_k |G_k - mean_S(G) r_k^α| (target detached), the model gets the gradient of Σ_k w_k L_k
    (w detached). The weights are renormalised to sum to K before each use. L_k(0) is the first
    loss seen for task k. A step with one task leaves the weights unchanged.
    """

    name = "gradnorm"

    def __init__(self, tasks: Sequence[str], alpha: float = 1.5):
        super().__init__(tasks)
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0; got {alpha!r}")
        self.alpha = float(alpha)
        self.loss_weight = nn.Parameter(torch.ones(len(self.tasks)))
        self.register_buffer("initial_loss", torch.full((len(self.tasks),), float("nan")))

    def weights(self, losses):
        return {t: self.loss_weight[self.tasks.index(t)].detach().to(losses[t]) for t in losses}

    def backward(self, losses, shared_params=None, **_):
        self._check(losses)
        if shared_params is None:
            raise ValueError("shared_params must be given for gradnorm (the parameters whose "
                             "gradient norms are balanced); got None")
        shared = _trainable(shared_params, self.name)
        with torch.no_grad():  # renormalise after the last optimizer step
            self.loss_weight.clamp_(min=1e-6)
            self.loss_weight.mul_(len(self.tasks) / self.loss_weight.sum())
        tasks = list(losses)
        idx = torch.tensor([self.tasks.index(t) for t in tasks], device=self.loss_weight.device)
        L = torch.stack([losses[t] for t in tasks]).to(self.loss_weight.device)  # (S,)
        with torch.no_grad():
            first = torch.isnan(self.initial_loss[idx])
            self.initial_loss[idx[first]] = L.detach().float()[first]
        if len(tasks) > 1:
            g = torch.stack([_grad_norm(losses[t], shared) for t in tasks])  # (S,)
            w = self.loss_weight[idx]
            G = w * g.to(w)
            rate = L.detach().float() / self.initial_loss[idx]
            target = (G.mean() * (rate / rate.mean()) ** self.alpha).detach()
            aux = (G - target).abs().sum()
            grad_w, = torch.autograd.grad(aux, self.loss_weight)
            self.loss_weight.grad = grad_w if self.loss_weight.grad is None else (
                self.loss_weight.grad + grad_w)
        weights = self.weights(losses)
        total = sum(weights[t] * losses[t] for t in tasks)
        total.backward()
        return _stats(losses, weights, total)


def _trainable(params: Iterable[torch.Tensor], method: str) -> list[torch.Tensor]:
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError(f"shared_params must hold at least one parameter with requires_grad for "
                         f"{method}; got none")
    return params


def _grad_norm(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    sq = [g.detach().float().pow(2).sum() for g in grads if g is not None]
    return torch.stack(sq).sum().sqrt() if sq else torch.zeros((), device=loss.device)


class JacobianWeighting(LossWeighting):
    """A ``torchjd`` aggregator: per-task gradients on the shared parameters -> one update.

    The Jacobian of the step's losses w.r.t. ``shared_params`` (one row per task) is aggregated
    (projected, re-weighted, ...) into the shared gradient; ``task_params`` get Σ_k ∇L_k. With one
    task in a step the aggregators reduce to (a multiple of) that task's gradient.
    """

    name = "jacobian"
    aggregator_name: ClassVar[str] = ""
    writes_grads_itself = True  # torchjd's jac_to_grad sets .grad, unseen by DDP's hooks

    def __init__(self, tasks: Sequence[str], **aggregator_kwargs: Any):
        super().__init__(tasks)
        aggregation = _import_torchjd("aggregation")
        kwargs = {**_AGGREGATOR_DEFAULTS.get(self.name, {}), **aggregator_kwargs}
        self.aggregator = getattr(aggregation, self.aggregator_name)(**kwargs)

    def backward(self, losses, shared_params=None, *, task_params=None, **_):
        self._check(losses)
        if shared_params is None:
            raise ValueError(f"shared_params must be given for {self.name} (the parameters whose "
                             "per-task gradients are aggregated); got None")
        autojac = _import_torchjd("autojac")
        shared = _trainable(shared_params, self.name)
        tasks = list(losses)
        total = sum(losses[t] for t in tasks)
        if task_params is not None:
            heads = [p for p in task_params if p.requires_grad]
            if heads:
                torch.autograd.backward(total, inputs=heads, retain_graph=True)
        had_grad = [p.grad is not None for p in shared]
        autojac.backward([losses[t] for t in tasks], inputs=shared)
        unused = [not bool(p.jac.any()) and not g for p, g in zip(shared, had_grad)]
        w = autojac.jac_to_grad(shared, self.aggregator)
        for p, skip in zip(shared, unused):
            if skip:  # as plain backward: no gradient (not zeros) for parameters no loss used,
                p.grad = None  # so the optimizer skips them (e.g. θ of a task not in this step)
        ones = torch.ones(len(tasks))
        w = ones if w is None else w.detach().cpu()  # aggregators without weights: report 1
        weights = {t: w[i] for i, t in enumerate(tasks)}
        return _stats(losses, weights, total)


def _import_torchjd(module: str):
    try:
        return importlib.import_module(f"torchjd.{module}")
    except ImportError:
        raise ImportError(
            f"Gradient-aggregation weightings need torchjd=={TORCHJD_VERSION}; install it with: "
            "pip install 'qattn-hybrid[mtl]'"
        ) from None


def _jacobian_method(name: str, aggregator: str, doc: str) -> type[JacobianWeighting]:
    return type(f"{aggregator}Weighting", (JacobianWeighting,),
                {"name": name, "aggregator_name": aggregator, "__doc__": doc,
                 "__module__": __name__})


_JACOBIAN = {
    "pcgrad": ("PCGrad", "PCGrad (Yu et al. 2020): project away conflicting task gradients."),
    "upgrad": ("UPGrad", "UPGrad (Quinton & Rey 2024): project onto the dual cone of the rows."),
    "mgda": ("MGDA", "MGDA (Sener & Koltun 2018): minimum-norm point of the convex hull."),
    "imtl_g": ("IMTLG", "IMTL-G (Liu et al. 2021): equal projections onto the update."),
    "aligned_mtl": ("AlignedMTL", "Aligned-MTL (Senushkin et al. 2023): condition the Jacobian."),
    "dualproj": ("DualProj", "DualProj: project the mean gradient onto the dual cone."),
    "graddrop": ("GradDrop", "GradDrop (Chen et al. 2020): random sign-consistent dropping."),
    "cagrad": ("CAGrad", "CAGrad (Liu et al. 2021): conflict-averse update (needs cvxpy)."),
}

_AGGREGATOR_DEFAULTS = {"cagrad": {"c": 0.4}}  # CAGrad has no default c; 0.4 as in its paper

WEIGHTINGS: dict[str, type[LossWeighting]] = {
    cls.name: cls for cls in (EqualWeighting, UncertaintyWeighting, DWA, GradNorm)
}
WEIGHTINGS.update({n: _jacobian_method(n, a, d) for n, (a, d) in _JACOBIAN.items()})


def make_weighting(name: str, tasks: Sequence[str], **kwargs: Any) -> LossWeighting:
    """Build a weighting from :data:`WEIGHTINGS` by name (``alpha=``, ``temperature=``, ...)."""
    if name not in WEIGHTINGS:
        raise KeyError(f"Unknown weighting {name!r}. Available: {', '.join(WEIGHTINGS)}")
    return WEIGHTINGS[name](tasks, **kwargs)
