"""The bundled women's clothing reviews: the item-grouped split, its script and the presets."""

import collections
import csv
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from qattn_hybrid.config.presets import DATASETS_DIR, PRESETS
from qattn_hybrid.data.loading import load_task, load_tasks

FOLDER = DATASETS_DIR / "womens_clothing_reviews"
BUNDLED = FOLDER / "womens_clothing_reviews.jsonl"
SHARED_CSV = (Path(__file__).resolve().parents[5] / "shared" / "data" / "womens_clothing_reviews"
              / "womens_clothing_ecommerce_reviews.csv")


def load_script():
    spec = importlib.util.spec_from_file_location("make_split", FOLDER / "make_split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in BUNDLED.read_text(encoding="utf-8").splitlines()]


class TestBundledFile:
    def test_counts(self, rows):
        assert len(rows) == 22641  # 23,486 rows minus 845 without review text
        counts = collections.Counter(r["split"] for r in rows)
        assert counts == {"train": 15728, "validation": 2260, "test": 4653}

    def test_items_never_cross_splits(self, rows):
        splits_of = collections.defaultdict(set)
        for r in rows:
            splits_of[r["clothing_id"]].add(r["split"])
        assert len(splits_of) == 1179
        assert all(len(s) == 1 for s in splits_of.values())
        items = collections.Counter(next(iter(s)) for s in splits_of.values())
        assert items == {"train": 857, "validation": 102, "test": 220}

    def test_every_department_in_every_split(self, rows):
        for split in ("train", "validation", "test"):
            depts = {r["department"] for r in rows if r["split"] == split}
            assert depts >= {"Tops", "Dresses", "Bottoms", "Intimate", "Jackets", "Trend"}

    def test_fields(self, rows):
        assert set(rows[0]) == {"text", "rating", "recommended", "department", "class_name",
                                "clothing_id", "row", "split"}
        assert {r["rating"] for r in rows} == {1, 2, 3, 4, 5}
        assert {r["recommended"] for r in rows} == {"recommended", "not_recommended"}
        assert sum(r["department"] == "" for r in rows) == 13
        assert all(r["text"] and r["text"] == r["text"].strip() for r in rows)


class TestScript:
    def test_text_joins_title_and_review(self):
        make_text = load_script().make_text
        assert make_text("Love it", " Fits well. ") == "Love it. Fits well."
        assert make_text("Love it!", "Fits well.") == "Love it! Fits well."
        assert make_text("", "Fits well.") == "Fits well."

    def test_small_csv(self, tmp_path):
        """Rows without review text are dropped; items stay whole; reruns are byte-identical."""
        script = load_script()
        path = tmp_path / "reviews.csv"
        fields = ["", "Clothing ID", "Age", "Title", "Review Text", "Rating", "Recommended IND",
                  "Positive Feedback Count", "Division Name", "Department Name", "Class Name"]
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(fields)
            for i in range(200):
                item = str(i % 40)
                text = "" if i == 5 else f"review {i}\nwith a newline"
                w.writerow([i, item, 30, "Nice" if i % 2 else "", text, 1 + i % 5, i % 2, 0,
                            "General", "Tops" if i % 40 < 36 else "Dresses", "Knits"])
        out1, out2 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        script.main([str(path), "--out", str(out1)])
        script.main([str(path), "--out", str(out2)])
        assert out1.read_bytes() == out2.read_bytes()
        got = [json.loads(line) for line in out1.read_text(encoding="utf-8").splitlines()]
        assert len(got) == 199 and 5 not in [r["row"] for r in got]
        assert got[0]["text"] == "review 0\nwith a newline" and got[1]["text"].startswith("Nice. ")
        assert got[1]["recommended"] == "recommended" and got[0]["recommended"] == "not_recommended"
        sides = collections.defaultdict(set)
        for r in got:
            sides[r["clothing_id"]].add(r["split"])
        assert all(len(s) == 1 for s in sides.values())
        assert {r["split"] for r in got} == {"train", "validation", "test"}

    @pytest.mark.slow
    @pytest.mark.skipif(not SHARED_CSV.is_file(), reason="the publisher's CSV is not here")
    def test_regenerates_the_bundled_file(self, tmp_path):
        out = tmp_path / "regenerated.jsonl"
        load_script().main([str(SHARED_CSV), "--out", str(out)])
        digest = hashlib.sha256(out.read_bytes()).hexdigest()
        assert digest == hashlib.sha256(BUNDLED.read_bytes()).hexdigest()


class TestPresets:
    def test_three_tasks(self):
        tasks = load_tasks(["clothing_rating", "clothing_recommend", "clothing_department"])
        rating = tasks["clothing_rating"]
        assert PRESETS["clothing_rating"].task_type == "regression" and rating.labels == ()
        assert [len(rating.split(s)) for s in ("train", "validation", "test")] == [15728, 2260,
                                                                                   4653]
        assert sorted(set(rating.train.labels.tolist())) == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert tasks["clothing_recommend"].labels == ("not_recommended", "recommended")
        dept = tasks["clothing_department"]
        assert dept.labels == ("Bottoms", "Dresses", "Intimate", "Jackets", "Tops", "Trend")
        # the 13 rows without a department are left out of this task only
        assert sum(len(dept.split(s)) for s in dept.splits) == 22641 - 13
        assert rating.train.texts[:3] == tasks["clothing_recommend"].train.texts[:3]

    def test_skip_missing_labels_is_per_task(self, tmp_path):
        path = tmp_path / "toy.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in [
            {"text": "a", "dept": "x", "split": "train"},
            {"text": "b", "dept": "", "split": "train"},
            {"text": "c", "dept": None, "split": "train"},
            {"text": "d", "dept": "y", "split": "train"}]), encoding="utf-8")
        spec = PRESETS["clothing_department"].replace(name="toy", file=str(path),
                                                      label_field="dept")
        assert load_task(spec).train.texts == ["a", "d"]
        kept = load_task(spec.replace(skip_missing_labels=False))
        assert kept.labels == ("", "None", "x", "y")
        with pytest.raises(ValueError, match=r"Task 'toy': skip_missing_labels must be a bool; "
                                             r"got 'yes'"):
            spec.replace(skip_missing_labels="yes")


class TestScenario:
    def test_recommend_config(self):
        from qattn_hybrid.config.sections import load_config

        config = load_config(Path(__file__).resolve().parents[4] / "configs" / "recommend.toml")
        assert [s.name for s in config.data.task_specs()] == ["clothing_rating",
                                                              "clothing_recommend",
                                                              "clothing_department"]
        assert (config.model.attention, config.weighting.method) == ("quantum", "uncertainty")

    @pytest.mark.slow
    def test_train_then_rank_on_the_real_data(self, make_encoder, tmp_path, capsys):
        """The scenario end to end on a slice of the bundled data (tiny random encoder)."""
        from qattn_hybrid.cli.parser import main
        from qattn_hybrid.config.sections import Config
        from qattn_hybrid.training.factory import build_trainer

        config = Config.from_dict({
            "model": {"encoder": "tiny", "circuit": {"n_qubits": 2, "n_layers": 1},
                      "max_length": 16},
            "data": {"tasks": ["clothing_rating", "clothing_recommend", "clothing_department"],
                     "max_examples": 24},
            "training": {"epochs": 1, "batch_size": 8, "output_dir": str(tmp_path / "run"),
                         "progress": False},
            "weighting": {"method": "uncertainty"}})
        result = build_trainer(config, encoder=make_encoder()).fit()
        rating = result.test_metrics["clothing_rating"]
        assert set(rating) >= {"mae", "rmse", "r2", "spearman"} and 0 < rating["mae"] < 4
        assert "roc_auc" in result.test_metrics["clothing_recommend"]
        items = tmp_path / "items.jsonl"
        items.write_text('{"id": "a", "text": "Love it, fits well"}\n'
                         '{"id": "b", "texts": ["Runs small", "Fabric pills"]}\n', encoding="utf-8")
        assert main(["rank", str(tmp_path / "run"), str(items), "--task", "clothing_rating",
                     "--json", "-q"]) == 0
        ranked = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert sorted(r["id"] for r in ranked) == ["a", "b"] and ranked[0]["score"] >= ranked[1][
            "score"]
