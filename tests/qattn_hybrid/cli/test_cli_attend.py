"""`qattn attend` run in-process on a tiny trained run: lines, JSON, the PNG, and errors."""

from __future__ import annotations

import importlib.util
import json

import pytest

from qattn_hybrid.cli.parser import main

PNG = b"\x89PNG\r\n\x1a\n"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
TEXT = "check my card balance please"


@pytest.fixture(scope="module")
def run_dir(config_path):
    assert main(["train", str(config_path), "--quiet", "--epochs", "1", "--no-plots",
                 "--no-baselines"]) == 0
    return config_path.parent / "run"


def run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class TestOutput:
    def test_lines_per_task(self, run_dir, capsys):
        code, out, err = run(capsys, "attend", str(run_dir), TEXT, "--top", "2")
        assert code == 0, err
        lines = out.splitlines()
        assert [line.split()[0] for line in lines] == ["intent", "sentiment"]
        assert lines[0].split()[1] in {"card", "travel", "payment"}
        assert "[special tokens 0." in lines[0] and lines[0].count(",") == 1  # two top words

    def test_says_when_words_were_cut(self, run_dir, capsys):
        code, out, err = run(capsys, "attend", str(run_dir), " ".join(["card"] * 20))
        assert code == 0, err
        assert "(the model read the first 14 of 20 words" in out  # max_length 16

    def test_json(self, run_dir, capsys):
        code, out, err = run(capsys, "attend", str(run_dir), TEXT, "--json",
                             "--tasks", "sentiment")
        assert code == 0, err
        data = json.loads(out)
        assert data["words"] == TEXT.split() and data["plot"] is None
        (task,) = data["tasks"]
        assert task["task"] == "sentiment" and task["label"] in {"positive", "negative"}
        assert 0.5 <= task["probability"] <= 1.0  # the most likely of two labels
        assert len(task["weights"]) == 5 and len(task["top_words"]) == 3
        assert sum(task["weights"]) + task["special_weight"] == pytest.approx(1.0, abs=1e-5)
        best = max(range(5), key=lambda w: task["weights"][w])
        assert task["top_words"][0]["word"] == TEXT.split()[best]

    @pytest.mark.skipif(not HAS_MATPLOTLIB, reason="plots need the plots extra (matplotlib)")
    def test_png(self, run_dir, capsys, tmp_path):
        path = tmp_path / "figs" / "attend.png"
        code, out, err = run(capsys, "attend", str(run_dir), TEXT, "--output", str(path),
                             "--json")
        assert code == 0, err
        assert json.loads(out)["plot"] == str(path)
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5000
        assert not list(path.parent.glob(".tmp-*"))


class TestErrors:
    @pytest.mark.parametrize("text", ["", "  \t "])
    def test_blank_text(self, tmp_path, capsys, text):
        code, out, err = run(capsys, "attend", str(tmp_path), text)  # refused before loading
        assert code == 2 and out == ""
        assert "qattn attend: error: text must be a non-empty str (not only whitespace)" in err

    def test_unknown_task(self, run_dir, capsys):
        code, out, err = run(capsys, "attend", str(run_dir), TEXT, "--tasks", "intent,food")
        assert code == 2 and out == ""
        assert "Unknown task 'food'. Available: intent, sentiment" in err

    def test_no_task(self, run_dir, capsys):
        code, _, err = run(capsys, "attend", str(run_dir), TEXT, "--tasks", " , ")
        assert code == 2 and "--tasks must name at least one task (comma-separated); got ' , '" \
            in err

    def test_bad_top(self, run_dir, capsys):
        code, _, err = run(capsys, "attend", str(run_dir), TEXT, "--top", "0")
        assert code == 2 and "--top must be >= 1; got 0" in err

    def test_not_a_model_folder(self, tmp_path, capsys):
        code, _, err = run(capsys, "attend", str(tmp_path), TEXT)
        assert code == 2 and "holds no saved model" in err
        code, _, err = run(capsys, "attend", str(tmp_path / "nothing"), TEXT)
        assert code == 2 and "does not exist" in err
