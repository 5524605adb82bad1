"""Tasks from configuration and the bundled data."""

import collections
import hashlib
import json

import pytest
import torch

from qattn_hybrid.config.presets import DATASETS_DIR, PRESETS, resolve_data_file
from qattn_hybrid.config.taskspec import TaskSpec
from qattn_hybrid.data.loading import load_task, load_tasks


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# (sentence, aspect) pairs per split, counted from MAMS-ACSA's raw XML (paper: 7,090 / 888 / 901)
MAMS_COUNTS = {"food": (2307, 290, 291), "service": (631, 84, 78), "staff": (1383, 165, 169),
               "price": (322, 45, 38), "ambience": (324, 36, 32), "menu": (475, 51, 76),
               "place": (694, 88, 81), "miscellaneous": (954, 129, 136)}
ROWS = [
    {"text": "b one", "label": "b", "split": "train"},
    {"text": "a one", "label": "a", "split": "train"},
    {"text": "c one", "label": "c", "split": "train"},
    {"text": "a two", "label": "a", "split": "validation"},
    {"text": "c two", "label": "c", "split": "test"},
]


@pytest.fixture
def jsonl(tmp_path):
    return write_jsonl(tmp_path / "toy.jsonl", ROWS)


class TestLoaders:
    def test_jsonl_label_map_sorted_from_train(self, jsonl):
        task = load_task(TaskSpec("toy", str(jsonl)))
        assert task.labels == ("a", "b", "c")
        assert task.label_to_id == {"a": 0, "b": 1, "c": 2}
        assert task.train.texts == ["b one", "a one", "c one"]
        assert task.train.labels.tolist() == [1, 0, 2]
        assert task.train.labels.dtype == torch.long
        assert task.split("validation").labels.tolist() == [0]
        assert task.split("test").labels.tolist() == [2]
        texts, labels = task.train.batch(torch.tensor([2, 0]))
        assert texts == ["c one", "b one"] and labels.tolist() == [2, 1]

    def test_csv_without_split_field(self, tmp_path):
        path = tmp_path / "toy.csv"
        path.write_text('sentence,y\n"hello, world",pos\nbad day,neg\n', encoding="utf-8")
        task = load_task(TaskSpec("csv", str(path), text_field="sentence", label_field="y",
                                  split_field=None))
        assert task.train.texts == ["hello, world", "bad day"]
        assert task.labels == ("neg", "pos") and task.train.labels.tolist() == [1, 0]
        assert list(task.splits) == ["train"]

    def test_csv_with_byte_order_mark(self, tmp_path):
        path = tmp_path / "bom.csv"
        path.write_bytes("\ufefftext,label\nhi,x\n".encode("utf-8"))
        assert load_task(TaskSpec("bom", str(path), split_field=None)).train.texts == ["hi"]

    def test_format_given_overrides_suffix(self, tmp_path):
        path = write_jsonl(tmp_path / "toy.txt", ROWS)
        assert len(load_task(TaskSpec("toy", str(path), format="jsonl")).train) == 3

    def test_regression(self, tmp_path):
        path = write_jsonl(tmp_path / "r.jsonl", [{"text": "x", "score": 1.5, "split": "train"},
                                                  {"text": "y", "score": "-2", "split": "train"}])
        task = load_task(TaskSpec("r", str(path), label_field="score", task_type="regression"))
        assert task.labels == () and task.num_labels == 1
        assert task.train.labels.dtype == torch.float32
        assert task.train.labels.tolist() == [1.5, -2.0]

    def test_label_map_with_default(self, jsonl):
        task = load_task(TaskSpec("toy", str(jsonl), label_map={"a": "is_a", "*": "other"}))
        assert task.labels == ("is_a", "other")
        assert task.train.labels.tolist() == [1, 0, 1]

    def test_max_examples_is_seeded_subset_in_file_order(self, tmp_path):
        rows = [{"text": f"t{i}", "label": str(i % 2), "split": "train"} for i in range(50)]
        path = write_jsonl(tmp_path / "big.jsonl", rows)
        spec = TaskSpec("big", str(path), max_examples=10, seed=3)
        a, b = load_task(spec).train.texts, load_task(spec).train.texts
        assert a == b and len(a) == 10
        assert a == sorted(a, key=lambda t: int(t[1:]))  # file order kept
        assert load_task(spec.replace(seed=4)).train.texts != a

    def test_test_from_train_is_hash_of_text(self, tmp_path):
        rows = [{"text": f"t{i}", "label": "x", "split": "train"} for i in range(200)]
        path = write_jsonl(tmp_path / "h.jsonl", rows)
        task = load_task(TaskSpec("h", str(path), test_from_train=0.25))
        test = task.split("test").texts
        unit = [int.from_bytes(hashlib.sha256(f"h-test:{t}".encode()).digest()[:8], "big") / 2**64
                for t in test]
        assert all(u < 0.25 for u in unit)
        assert set(test).isdisjoint(task.train.texts)
        assert len(test) + len(task.train) == 200
        assert 30 < len(test) < 70

    def test_resolve_bundled_names(self):
        assert resolve_data_file("clinc150") == DATASETS_DIR / "clinc150" / "clinc150.jsonl"
        assert resolve_data_file("clinc150/clinc150.jsonl").is_file()


class TestStratifiedSubset:
    """max_examples on a classification task: a seeded subset stratified by label."""

    def test_rare_label_kept_and_shares_proportional(self, tmp_path):
        rows = [{"text": f"t{i}", "label": "b" if i in (7, 50, 93) else "a", "split": "train"}
                for i in range(100)]
        path = write_jsonl(tmp_path / "rare.jsonl", rows)
        for seed in range(5):
            task = load_task(TaskSpec("rare", str(path), max_examples=10, seed=seed))
            assert task.labels == ("a", "b")
            assert task.train.labels.tolist().count(1) == 1  # 1 + 8 * 2 / 98 -> 1 row of b
            assert task.train.texts == sorted(task.train.texts, key=lambda t: int(t[1:]))

    def test_equal_labels_split_evenly_and_seeded(self, tmp_path):
        rows = [{"text": f"t{i}", "label": str(i % 4), "split": "train"} for i in range(80)]
        path = write_jsonl(tmp_path / "even.jsonl", rows)
        spec = TaskSpec("even", str(path), max_examples=20, seed=1)
        task = load_task(spec)
        assert collections.Counter(task.train.labels.tolist()) == {0: 5, 1: 5, 2: 5, 3: 5}
        assert load_task(spec).train.texts == task.train.texts
        assert load_task(spec.replace(seed=2)).train.texts != task.train.texts

    def test_regression_keeps_the_plain_seeded_subset(self, tmp_path):
        rows = [{"text": f"t{i}", "label": i / 10, "split": "train"} for i in range(50)]
        path = write_jsonl(tmp_path / "reg.jsonl", rows)
        task = load_task(TaskSpec("reg", str(path), task_type="regression", max_examples=10,
                                  seed=3))
        keep = torch.randperm(50, generator=torch.Generator().manual_seed(3))[:10].sort().values
        assert task.train.texts == [f"t{i}" for i in keep.tolist()]

    @pytest.mark.parametrize("name", ["clinc_intent", "clinc_oos"])
    @pytest.mark.parametrize("n", [200, 64])
    def test_clinc_keeps_every_label_that_fits(self, name, n):
        full = load_task(name)
        for seed in range(4):
            task = load_task(PRESETS[name].replace(max_examples=n, seed=seed))
            assert {s: len(v) for s, v in task.splits.items()} == dict.fromkeys(full.splits, n)
            if n >= full.num_labels:  # every label in train (oos: 0.66% of it), and elsewhere
                assert task.labels == full.labels
                for split in task.splits.values():
                    assert set(split.labels.tolist()) == set(range(full.num_labels))
            else:  # one row each of n labels; the other splits keep to those labels
                assert len(task.labels) == n and set(task.labels) <= set(full.labels)


class TestErrors:
    def test_unknown_task_name(self):
        with pytest.raises(KeyError, match=r"Unknown task 'clinc'. Available: clinc_domain"):
            load_task("clinc")

    def test_missing_text_field(self, jsonl):
        with pytest.raises(KeyError, match=r"Task 'toy': text_field 'sentence' must be a field of "
                                           r".*toy.jsonl; got fields \['label', 'split', 'text'\]"):
            load_task(TaskSpec("toy", str(jsonl), text_field="sentence"))

    def test_missing_label_field(self, jsonl):
        with pytest.raises(KeyError, match=r"Task 'toy': label_field 'intent' must be a field"):
            load_task(TaskSpec("toy", str(jsonl), label_field="intent"))

    def test_field_missing_in_a_later_row(self, tmp_path):
        path = write_jsonl(tmp_path / "t.jsonl", [ROWS[0], {"text": "x", "split": "train"}])
        with pytest.raises(KeyError, match=r"Task 't': row 2 of .*t.jsonl has no field 'label'"):
            load_task(TaskSpec("t", str(path)))

    def test_label_missing_from_label_map(self, tmp_path):
        rows = ROWS + [{"text": "d", "label": "d", "split": "validation"}]
        path = write_jsonl(tmp_path / "t.jsonl", rows)
        with pytest.raises(KeyError, match=r"Task 't': label 'd' in the validation split of "
                                           r".*t.jsonl must be a label of the train split"):
            load_task(TaskSpec("t", str(path)))

    def test_raw_label_not_in_declared_label_map(self, jsonl):
        with pytest.raises(KeyError, match=r"Task 'toy': label 'b' \(row 1 of .*\) must be a key "
                                           r"of label_map"):
            load_task(TaskSpec("toy", str(jsonl), label_map={"a": "a", "c": "c"}))

    def test_empty_dataset(self, tmp_path):
        path = tmp_path / "empty.jsonl"
        path.write_text("\n", encoding="utf-8")
        with pytest.raises(ValueError, match=r"Task 'e': dataset must not be empty; got 0 rows"):
            load_task(TaskSpec("e", str(path)))

    def test_empty_train_split(self, tmp_path):
        path = write_jsonl(tmp_path / "t.jsonl", [ROWS[3]])
        with pytest.raises(ValueError, match=r"Task 't': train split must not be empty; got 0 rows "
                                             r"with split='train'"):
            load_task(TaskSpec("t", str(path)))

    def test_unknown_format(self, tmp_path):
        path = tmp_path / "data.parquet"
        path.write_bytes(b"x")
        with pytest.raises(ValueError, match=r"Task 'p': format must be one of \['csv', 'jsonl'\]"
                                             r".*got suffix '.parquet'"):
            load_task(TaskSpec("p", str(path)))
        with pytest.raises(ValueError, match=r"Task 'p': format must be 'jsonl' or 'csv'; got 'xml'"):
            TaskSpec("p", str(path), format="xml")

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match=r"Task 'm': data file .*nope.jsonl does not"):
            load_task(TaskSpec("m", str(tmp_path / "nope.jsonl")))

    def test_invalid_json_line(self, tmp_path):
        path = tmp_path / "bad.jsonl"
        path.write_text('{"text": "a", "label": "x", "split": "train"}\n{"text": \n')
        with pytest.raises(ValueError, match=r"Task 'b': line 2 of .*bad.jsonl must be valid JSON"):
            load_task(TaskSpec("b", str(path)))

    def test_regression_label_not_a_number(self, jsonl):
        with pytest.raises(ValueError, match=r"label field 'label' must be a number for a "
                                             r"regression task; got 'b'"):
            load_task(TaskSpec("toy", str(jsonl), task_type="regression"))

    @pytest.mark.parametrize("change, message", [
        ({"task_type": "ranking"}, r"task_type must be one of 'classification', 'regression'; "
                                   r"got 'ranking'"),
        ({"max_examples": 0}, r"max_examples must be a positive int or None; got 0"),
        ({"test_from_train": 1.0}, r"test_from_train must be in \[0, 1\); got 1.0"),
        ({"name": ""}, r"name must be a non-empty str; got ''"),
        ({"task_type": "regression", "label_map": {"a": "b"}},
         r"label_map must be None for a regression task"),
    ])
    def test_invalid_spec(self, change, message):
        with pytest.raises(ValueError, match=message):
            TaskSpec(**{"name": "t", "file": "x.jsonl", **change})

    def test_test_from_train_with_a_test_split(self, jsonl):
        with pytest.raises(ValueError, match=r"test_from_train must be 0 when .* has a test split"):
            load_task(TaskSpec("toy", str(jsonl), test_from_train=0.1))

    def test_duplicate_task_names(self, jsonl):
        with pytest.raises(ValueError, match=r"Task names must be unique; got 'toy' twice"):
            load_tasks([TaskSpec("toy", str(jsonl)), TaskSpec("toy", str(jsonl))])

    def test_unknown_split(self, jsonl):
        with pytest.raises(KeyError, match=r"Task 'toy' has no split 'dev'. Available: train"):
            load_task(TaskSpec("toy", str(jsonl))).split("dev")


class TestBundledData:
    @pytest.mark.parametrize("rel, sha256", [
        ("clinc150/clinc150.jsonl",
         "f79d249590d98a74b86df0e53aa6b0eb7dd119541200c4332958517699ba8f23"),
        ("twitter_financial_news_sentiment/twitter_financial_news_sentiment.jsonl",
         "d8d7a667397505950ab352c879dc7ed146d4c04fd86ccd702ded7d1a8b389855"),
        ("womens_clothing_reviews/womens_clothing_reviews.jsonl",
         "0c001dc21a17ed74e5785845e49fc9383dba16938c9dd1eb0fba8437f4aa02d4"),
    ])
    def test_files_and_licences_ship(self, rel, sha256):
        path = DATASETS_DIR / rel
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
        assert (path.parent / "LICENSE.md").is_file()

    def test_presets(self):
        tasks = load_tasks(list(PRESETS))
        sizes = {n: (t.num_labels, {s: len(v) for s, v in t.splits.items()})
                 for n, t in tasks.items()}
        clinc = {"train": 15100, "validation": 3100, "test": 5500}
        assert sizes == {
            "clinc_intent": (151, clinc), "clinc_domain": (11, clinc), "clinc_oos": (2, clinc),
            "fin_sentiment": (3, {"train": 8556, "validation": 2388, "test": 987}),
            **{name: (k, clothing) for name, k, clothing in [
                ("clothing_rating", 1, {"train": 15728, "validation": 2260, "test": 4653}),
                ("clothing_recommend", 2, {"train": 15728, "validation": 2260, "test": 4653}),
                ("clothing_department", 6, {"train": 15719, "validation": 2259, "test": 4650})]},
            **{f"mams_{aspect}": (3, dict(zip(("train", "validation", "test"), n)))
               for aspect, n in MAMS_COUNTS.items()},
        }
        oos = tasks["clinc_oos"]
        assert oos.labels == ("in_scope", "oos")
        assert int(oos.train.labels.sum()) == 100 and int(oos.split("test").labels.sum()) == 1000
        assert tasks["clinc_intent"].train.texts == oos.train.texts  # same texts, three tasks
        assert "oos" in tasks["clinc_domain"].labels
        fin = tasks["fin_sentiment"]
        assert fin.labels == ("Bearish", "Bullish", "Neutral")
        food, staff = tasks["mams_food"], tasks["mams_staff"]
        assert food.labels == staff.labels == ("negative", "neutral", "positive")
        shared = set(food.split("test").texts) & set(staff.split("test").texts)
        assert len(shared) > 50  # one sentence, two aspects: a task per aspect reads its part
        assert set(fin.split("test").texts).isdisjoint(fin.train.texts)
