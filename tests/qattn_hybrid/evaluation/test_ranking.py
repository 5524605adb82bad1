"""Ranking: order, NDCG / precision against hand-worked values, items files, the model API, CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from qattn_hybrid.cli.parser import main
from qattn_hybrid.config.sections import ModelConfig
from qattn_hybrid.evaluation.ranking import (evaluate_ranking, group_items, item_scores,
                                             rank_items, read_items, score_texts)
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask
from qattn_hybrid.tasks.metrics import ndcg_at_k, precision_at_k, random_ndcg, ranking_order

LOG3 = math.log2(3)


class TestOrderAndNDCG:
    def test_order_descending_ties_keep_input_order(self):
        assert ranking_order([0.2, 0.9, 0.5, 0.9]) == [1, 3, 2, 0]

    def test_ndcg_hand_worked(self):
        scores, rel = [0.9, 0.8, 0.3, 0.5], [1.0, 3.0, 2.0, 0.0]
        # order by score: rel 1, 3, 0, 2. DCG@3 = 1/log2(2) + 3/log2(3) + 0/log2(4);
        # ideal order 3, 2, 1: 3/1 + 2/log2(3) + 1/2
        assert ndcg_at_k(scores, rel, k=3) == pytest.approx((1 + 3 / LOG3) / (3 + 2 / LOG3 + 0.5))
        # k=2 and k beyond the list
        assert ndcg_at_k(scores, rel, k=2) == pytest.approx((1 + 3 / LOG3) / (3 + 2 / LOG3))
        full = (1 + 3 / LOG3 + 0 + 2 / math.log2(5)) / (3 + 2 / LOG3 + 0.5 + 0)
        assert ndcg_at_k(scores, rel, k=10) == pytest.approx(full)
        assert ndcg_at_k([4, 3, 2, 1], rel, k=1) == pytest.approx(1 / 3)
        assert ndcg_at_k(rel, rel, k=3) == 1.0
        assert math.isnan(ndcg_at_k(scores, [0, 0, 0, 0]))

    def test_ndcg_against_sklearn(self):
        sk = pytest.importorskip("sklearn.metrics")
        g = torch.Generator().manual_seed(0)
        rel = torch.rand(40, generator=g, dtype=torch.float64) * 4
        scores = rel + torch.randn(40, generator=g, dtype=torch.float64)
        for k in (1, 5, 10):
            assert ndcg_at_k(scores, rel, k) == pytest.approx(
                sk.ndcg_score(rel[None].numpy(), scores[None].numpy(), k=k))

    def test_precision_at_k(self):
        scores = [0.9, 0.1, 0.8, 0.7, 0.2]
        relevant = [True, True, False, True, False]
        assert precision_at_k(scores, relevant, k=3) == pytest.approx(2 / 3)  # items 0, 2, 3
        assert precision_at_k(scores, relevant, k=10) == pytest.approx(3 / 5)

    def test_random_ndcg_is_below_one(self):
        rel = [4.0, 0.0, 0.0, 0.0, 0.0]
        # one relevant item among 5, k=1: NDCG@1 = 1 when it comes first, chance 1/5
        assert random_ndcg(rel, k=1, draws=2000) == pytest.approx(0.2, abs=0.04)

    @pytest.mark.parametrize("call, message", [
        (lambda: ndcg_at_k([1.0], [1.0, 2.0]), r"scores and relevance must be non-empty 1-D "
                                               r"sequences of one length; got \(1,\) and \(2,\)"),
        (lambda: ndcg_at_k([1.0], [1.0], k=0), r"k must be an int >= 1; got 0"),
        (lambda: ndcg_at_k([1.0], [-1.0]), r"relevance must be >= 0; got -1.0"),
        (lambda: precision_at_k([1.0], [True], k=0), r"k must be an int >= 1; got 0"),
    ])
    def test_errors(self, call, message):
        with pytest.raises(ValueError, match=message):
            call()


class TestItemScores:
    def test_means_and_filter(self):
        ids = ["a", "b", "a", "c", "b", "a"]
        pred = [4.0, 2.0, 5.0, 3.0, 3.0, 3.0]
        ratings = [5, 1, 4, 3, 2, 5]
        recommends = [1, 0, 1, 1, 0, 0]
        scores, truth = item_scores(pred, ids, ratings, recommends, min_reviews=2,
                                    recommended_share=0.6)
        assert truth.ids == ["a", "b"]  # c has one review
        torch.testing.assert_close(scores, torch.tensor([4.0, 2.5], dtype=torch.float64))
        torch.testing.assert_close(truth.mean_rating,
                                   torch.tensor([14 / 3, 1.5], dtype=torch.float64))
        assert truth.recommended.tolist() == [True, False]  # 2/3 >= 0.6; 0/2

    def test_evaluate_from_predictions(self):
        ids = ["a", "a", "b", "b", "c", "c"]
        ratings = [5, 5, 3, 4, 1, 2]  # means 5, 3.5, 1.5: relevance 4, 2.5, 0.5
        recommends = [1, 1, 1, 0, 0, 0]
        pred = [3.0, 3.0, 4.0, 4.0, 1.0, 1.0]  # ranks b, a, c
        got = evaluate_ranking(None, ["x"] * 6, ids, ratings, recommends, "rating", k=2,
                               min_reviews=2, predictions=torch.tensor(pred))
        assert got["ndcg@2"] == pytest.approx((2.5 + 4 / LOG3) / (4 + 2.5 / LOG3))
        assert got["spearman"] == pytest.approx(0.5)  # ranks (2, 3, 1) vs (3, 2, 1)
        assert got["precision@2"] == 0.5  # only a is recommended by all its reviewers
        assert got["n_items"] == 3

    def test_too_few_items(self):
        with pytest.raises(ValueError, match=r"min_reviews must leave at least 2 items to rank; "
                                             r"got 1 items with >= 2 reviews"):
            item_scores([1.0, 2.0, 3.0], ["a", "a", "b"], [1, 2, 3], [1, 1, 1], min_reviews=2)


class TestItemsFile:
    def test_read_items_merges_ids(self, tmp_path):
        path = tmp_path / "items.jsonl"
        path.write_text('{"id": "d1", "text": "lovely"}\n\n{"text": "meh"}\n'
                        '{"id": "d1", "texts": ["fits", "soft"]}\n', encoding="utf-8")
        assert read_items(path) == {"d1": ["lovely", "fits", "soft"], "3": ["meh"]}

    @pytest.mark.parametrize("line, message", [
        ("[1, 2]", r"line 1 of .* must be a JSON object; got list"),
        ('{"id": 1}', r"line 1 of .* must have a non-empty 'text' \(str\) or 'texts' \(list of "
                      r"str\); got"),
        ('{"text": "  "}', r"must have a non-empty 'text'"),
        ("{bad", r"line 1 of .* must be valid JSON; got"),
    ])
    def test_bad_lines(self, tmp_path, line, message):
        path = tmp_path / "items.jsonl"
        path.write_text(line + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_items(path)

    def test_group_items(self):
        assert group_items(["a", "b", "a"], ["x", "y", "z"]) == {"a": ["x", "z"], "b": ["y"]}


@pytest.fixture
def model(make_encoder):
    torch.manual_seed(0)
    config = ModelConfig(encoder="tiny", circuit={"n_qubits": 2, "n_layers": 1}, max_length=16)
    tasks = [RegressionTask("rating", 4.0, 1.0),
             ClassificationTask("recommend", ("not_recommended", "recommended")),
             ClassificationTask("department", ("Dresses", "Tops", "Trend"))]
    return MultiTaskModel(config, tasks, make_encoder()).eval()


ITEMS = {"dress": ["good price", "bad fit", "good"], "top": "bad", "coat": ["good good good"]}


class TestRankItems:
    def test_order_and_means_match_per_text_scores(self, model):
        ranked = rank_items(model, ITEMS, "rating")
        per_text = {t: float(s) for t, s in zip(
            ["good price", "bad fit", "good", "bad", "good good good"],
            score_texts(model, ["good price", "bad fit", "good", "bad", "good good good"],
                        "rating"))}
        expected = {"dress": sum(per_text[t] for t in ITEMS["dress"]) / 3,
                    "top": per_text["bad"], "coat": per_text["good good good"]}
        assert [r.id for r in ranked] == sorted(expected, key=expected.get, reverse=True)
        assert [r.rank for r in ranked] == [1, 2, 3]
        for r in ranked:
            assert r.score == pytest.approx(expected[r.id])
        assert {r.id: r.n_texts for r in ranked} == {"dress": 3, "top": 1, "coat": 1}

    def test_classification_scores_are_probabilities(self, model):
        probs = score_texts(model, ["good", "bad"], "recommend")
        logits = model(["good", "bad"], "recommend").logits.double()
        torch.testing.assert_close(probs, torch.softmax(logits, -1)[:, 1])
        ranked = rank_items(model, ITEMS, "department", label="Trend")
        assert all(0 <= r.score <= 1 for r in ranked)

    @pytest.mark.parametrize("kwargs, message", [
        ({"task": "department"}, r"label must name the class to rank by for the 3-way task "
                                 r"'department' \(one of Dresses, Tops, Trend\); got None"),
        ({"task": "recommend", "label": "maybe"}, r"label must be one of not_recommended, "
                                                  r"recommended for task 'recommend'; got 'maybe'"),
        ({"task": "rating", "label": "x"}, r"label must be None for the regression task "
                                           r"'rating'; got 'x'"),
    ])
    def test_label_errors(self, model, kwargs, message):
        with pytest.raises(ValueError, match=message):
            rank_items(model, ITEMS, **kwargs)

    def test_item_errors(self, model):
        with pytest.raises(ValueError, match=r"items must be a non-empty mapping of id -> "
                                             r"text\(s\); got \{\}"):
            rank_items(model, {}, "rating")
        with pytest.raises(ValueError, match=r"item 'x' must have one or more non-empty texts; "
                                             r"got \[\]"):
            rank_items(model, {"x": []}, "rating")
        with pytest.raises(KeyError, match=r"Unknown task 'price'"):
            rank_items(model, ITEMS, "price")


class TestCli:
    def test_rank_table_and_json(self, model, tmp_path, capsys):
        model.save_pretrained(tmp_path / "run" / "best")
        items = tmp_path / "items.jsonl"
        items.write_text("".join(json.dumps({"id": k, "texts": [v] if isinstance(v, str) else v})
                                 + "\n" for k, v in ITEMS.items()), encoding="utf-8")
        expected = rank_items(model, ITEMS, "rating")
        assert main(["rank", str(tmp_path / "run"), str(items), "--task", "rating",
                     "--json", "-q"]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [x["id"] for x in lines] == [r.id for r in expected]
        assert lines[0]["score"] == pytest.approx(expected[0].score, abs=1e-6)
        assert main(["rank", str(tmp_path / "run"), str(items), "--task", "rating",
                     "--top", "2", "-q"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].split() == ["rank", "score", "texts", "id"] and len(out) == 3
        assert out[1].split()[-1] == expected[0].id

    def test_rank_errors(self, model, tmp_path, capsys):
        model.save_pretrained(tmp_path / "m")
        items = tmp_path / "items.jsonl"
        items.write_text('{"text": "good"}\n', encoding="utf-8")
        assert main(["rank", str(tmp_path / "m"), str(items), "--task", "nope", "-q"]) == 2
        assert "Unknown task 'nope'" in capsys.readouterr().err
        assert main(["rank", str(tmp_path / "m"), str(items), "--task", "rating", "--top", "0",
                     "-q"]) == 2
        assert "--top must be >= 1; got 0" in capsys.readouterr().err
        assert main(["rank", str(tmp_path / "m"), str(tmp_path / "none.jsonl"), "--task",
                     "rating", "-q"]) == 2
        assert "items file" in capsys.readouterr().err


def test_cli_module_runs_rank_as_a_script(tmp_path):
    """``python -m qattn_hybrid.cli.parser rank --help`` (every handler defined before main runs)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-m", "qattn_hybrid.cli.parser", "rank", "--help"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ITEMS" in result.stdout.upper() and "--task" in result.stdout
