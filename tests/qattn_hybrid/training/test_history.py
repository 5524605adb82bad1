"""A run's per-epoch record: metrics.csv / metrics.json as written, and the epoch log line."""

import json
import math

import pytest

from qattn_hybrid.training.history import epoch_line, format_score, write_metrics

RECORD = {"epoch": 1, "train_loss": {"a": 0.5}, "seconds": 3.25, "train_seconds": 3.0,
          "validation_seconds": 0.25, "score": 0.75,
          "validation": {"a": {"loss": 0.4, "accuracy": 0.75}, "r": {"mse": 0.125}}}


def test_metrics_files(tmp_path):
    write_metrics(tmp_path, [RECORD])
    assert (tmp_path / "metrics.csv").read_text() == (
        "epoch,split,task,metric,value\n1,train,a,loss,0.5\n1,validation,a,loss,0.4\n"
        "1,validation,a,accuracy,0.75\n1,validation,r,mse,0.125\n")
    assert json.loads((tmp_path / "metrics.json").read_text()) == [RECORD]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "metrics.json"]


@pytest.mark.parametrize(("metric", "value", "text"), [
    ("accuracy", 0.6667, "66.7%"), ("macro_f1", 1.0, "100.0%"), ("mse", 0.12345, "0.1235"),
    ("loss", 2.0, "2.0000"), ("accuracy", math.nan, "n/a")])
def test_scores_in_percent_errors_as_is(metric, value, text):
    assert format_score(metric, value) == text


def test_epoch_line():
    assert epoch_line(RECORD, improved=True) == (
        "epoch 1 (3.2 s: train 3.0 s, validation 0.2 s) score 0.7500 (best) | "
        "a: accuracy 75.0% | r: mse 0.1250")
    assert "(best)" not in epoch_line(RECORD, improved=False)
