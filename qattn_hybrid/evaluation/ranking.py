"""Rank items by a trained model's predicted interest, and measure how good the ranking is.

    items = read_items("items.jsonl")                  # {"id": "dress-1", "text": "..."} per line
    ranked = rank_items(model, items, "clothing_rating")
    ranked[0]                                          # RankedItem(rank=1, id=..., score=4.71, ...)

An item is one or more texts (reviews of it); its score is the mean of its texts' scores. A text's
score is the model's prediction for a regression task (a rating, in the targets' own scale) or,
for a classification task, the probability of one label (``label=``; for a binary task the
default is the second label in sorted order, e.g. ``recommended`` of
``not_recommended`` / ``recommended``).

Evaluation on held-out items (:func:`evaluate_ranking`): the reviews of each item with at least
``min_reviews`` reviews are scored, items ordered by mean predicted score and compared with their
mean true rating:

The measures (:func:`~qattn_hybrid.tasks.metrics.ndcg_at_k`,
:func:`~qattn_hybrid.tasks.metrics.precision_at_k`, beside the other metrics):

* NDCG@k with linear gains, relevance = mean true rating - ``min_rating`` (so the worst possible
  item gains nothing), discount 1 / log2(position + 1): DCG@k / ideal DCG@k (as sklearn's
  ``ndcg_score`` with ``ignore_ties=True``; ties in the scores keep the input order);
* Spearman correlation of mean predicted and mean true rating over all items;
* precision@k: the fraction of the top k items that are "recommended", meaning at least
  ``recommended_share`` (0.9) of their reviews say they would recommend it. (With a majority
  threshold over 90 % of the items would qualify and the number would say little.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import torch

from qattn_hybrid.tasks.metrics import ndcg_at_k, precision_at_k, ranking_order, spearman

__all__ = [
    "ItemTruth",
    "RankedItem",
    "evaluate_ranking",
    "group_items",
    "item_scores",
    "rank_items",
    "read_items",
    "score_texts",
]


class RankedItem(NamedTuple):
    rank: int  # 1-based position
    id: str
    score: float  # mean score of the item's texts
    n_texts: int


# --------------------------------------------------------------------------- scoring
@torch.no_grad()
def score_texts(model, texts: Sequence[str], task: str, *, label: str | None = None,
                batch_size: int = 256) -> torch.Tensor:
    """(N,) float64 scores: predictions (regression) or P(label) (classification), eval mode."""
    if isinstance(texts, str) or len(texts) == 0:
        raise ValueError(f"texts must be a non-empty sequence of str; got {texts!r}")
    to_scores = _ranking_score(model, task, label)
    was_training = model.training
    model.eval()
    try:
        out = [model(list(texts[s : s + batch_size]), task).logits.double().cpu()
               for s in range(0, len(texts), batch_size)]
    finally:
        model.train(was_training)
    return to_scores(torch.cat(out))


def _ranking_score(model, task: str, label: str | None):
    """outputs -> (N,) scores, from the task (checked before any text is encoded)."""
    model.task_id(task)  # unknown task: error listing the model's tasks
    return model.tasks[task].ranking_score(label)


def rank_items(model, items: Mapping[str, str | Sequence[str]], task: str, *,
               label: str | None = None, batch_size: int = 256) -> list[RankedItem]:
    """Items ``{id: text or [texts]}`` ranked by mean score, best first (see module docstring)."""
    if not isinstance(items, Mapping) or not items:
        raise ValueError(f"items must be a non-empty mapping of id -> text(s); got {items!r}")
    ids, texts, owner = [], [], []
    for item_id, value in items.items():
        group = [value] if isinstance(value, str) else list(value)
        if not group or not all(isinstance(t, str) and t.strip() for t in group):
            raise ValueError(f"item {item_id!r} must have one or more non-empty texts; "
                             f"got {value!r}")
        owner += [len(ids)] * len(group)
        ids.append(str(item_id))
        texts += group
    scores = score_texts(model, texts, task, label=label, batch_size=batch_size)
    means, counts = _group_means(scores, torch.tensor(owner), len(ids))
    return [RankedItem(r + 1, ids[i], float(means[i]), int(counts[i]))
            for r, i in enumerate(ranking_order(means))]


def _group_means(values: torch.Tensor, owner: torch.Tensor, n: int):
    sums = torch.zeros(n, dtype=torch.float64).index_add_(0, owner, values.double())
    counts = torch.bincount(owner, minlength=n)
    return sums / counts, counts


# --------------------------------------------------------------------------- items files
def read_items(path: str | os.PathLike) -> dict[str, list[str]]:
    """Items from a JSONL file: one object per line with ``text`` (str) or ``texts`` (list of str)
    and an optional ``id`` (default: the line number). Lines with the same id are one item."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"items file {path} does not exist")
    items: dict[str, list[str]] = {}
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                item_id, texts = _item(line, lineno, path)
                items.setdefault(item_id, []).extend(texts)
    if not items:
        raise ValueError(f"items file must hold at least one item; got none in {path}")
    return items


def _item(line: str, lineno: int, path: Path) -> tuple[str, list[str]]:
    where = f"line {lineno} of {path}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where} must be valid JSON; got {err}") from None
    if not isinstance(row, dict):
        raise ValueError(f"{where} must be a JSON object; got {type(row).__name__}")
    texts = row.get("texts", [row["text"]] if "text" in row else None)
    if (not isinstance(texts, list) or not texts
            or not all(isinstance(t, str) and t.strip() for t in texts)):
        raise ValueError(f"{where} must have a non-empty 'text' (str) or 'texts' (list of str); "
                         f"got {json.dumps(row)[:120]}")
    return str(row.get("id", lineno)), texts


def group_items(item_ids: Sequence[str], texts: Sequence[str]) -> dict[str, list[str]]:
    """``{id: [texts]}`` from two aligned lists (e.g. a split's rows and their item ids)."""
    if len(item_ids) != len(texts):
        raise ValueError(f"item_ids and texts must have one length; got {len(item_ids)} and "
                         f"{len(texts)}")
    items: dict[str, list[str]] = {}
    for item_id, text in zip(item_ids, texts):
        items.setdefault(str(item_id), []).append(text)
    return items


class ItemTruth(NamedTuple):
    ids: list[str]
    mean_rating: torch.Tensor  # (I,) float64
    recommended: torch.Tensor  # (I,) bool: share of recommending reviews >= recommended_share


def evaluate_ranking(model, texts: Sequence[str], item_ids: Sequence[str],
                     ratings: Sequence[float], recommends: Sequence[bool], task: str, *,
                     k: int = 10, min_reviews: int = 5, recommended_share: float = 0.9,
                     min_rating: float = 1.0, label: str | None = None,
                     predictions: torch.Tensor | None = None) -> dict[str, float]:
    """NDCG@k, Spearman and precision@k of items ranked by the model (module docstring).

    ``texts``, ``item_ids``, ``ratings`` (true, per review) and ``recommends`` (per review) are
    aligned rows of a held-out split; ``predictions`` (per review) skips the model call.
    """
    n = len(texts)
    if not (n == len(item_ids) == len(ratings) == len(recommends)) or n == 0:
        raise ValueError(f"texts, item_ids, ratings and recommends must be non-empty and of one "
                         f"length; got {n}, {len(item_ids)}, {len(ratings)}, {len(recommends)}")
    if predictions is None:
        predictions = score_texts(model, texts, task, label=label)
    scores, truth = item_scores(predictions, item_ids, ratings, recommends,
                                min_reviews=min_reviews, recommended_share=recommended_share)
    return {f"ndcg@{k}": ndcg_at_k(scores, truth.mean_rating - min_rating, k),
            "spearman": spearman(scores, truth.mean_rating),
            f"precision@{k}": precision_at_k(scores, truth.recommended, k),
            "n_items": float(len(truth.ids))}


def item_scores(predictions, item_ids, ratings, recommends, *, min_reviews: int = 5,
                recommended_share: float = 0.9) -> tuple[torch.Tensor, ItemTruth]:
    """Mean predicted score per item and the items' truth, for items with >= min_reviews rows."""
    if not isinstance(min_reviews, int) or min_reviews < 1:
        raise ValueError(f"min_reviews must be an int >= 1; got {min_reviews!r}")
    if not 0 < recommended_share <= 1:
        raise ValueError(f"recommended_share must be in (0, 1]; got {recommended_share!r}")
    ids = list(dict.fromkeys(str(i) for i in item_ids))  # first-seen order
    position = {item: i for i, item in enumerate(ids)}
    owner = torch.tensor([position[str(i)] for i in item_ids], dtype=torch.long)
    pred, counts = _group_means(torch.as_tensor(predictions, dtype=torch.float64), owner, len(ids))
    rating, _ = _group_means(torch.as_tensor(ratings, dtype=torch.float64), owner, len(ids))
    share, _ = _group_means(torch.as_tensor(recommends, dtype=torch.float64), owner, len(ids))
    keep = counts >= min_reviews
    if int(keep.sum()) < 2:
        raise ValueError(f"min_reviews must leave at least 2 items to rank; got {int(keep.sum())} "
                         f"items with >= {min_reviews} reviews")
    kept = [ids[i] for i in keep.nonzero().flatten().tolist()]
    return pred[keep], ItemTruth(kept, rating[keep], share[keep] >= recommended_share - 1e-12)
