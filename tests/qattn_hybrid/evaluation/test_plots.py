"""Plots: training curves and per-task attention heatmaps, as PNG files."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("matplotlib", reason="plots need the plots extra (matplotlib)")

from qattn_hybrid.config.sections import ModelConfig  # noqa: E402
from qattn_hybrid.evaluation.attend import word_attention  # noqa: E402
from qattn_hybrid.evaluation.plots import (  # noqa: E402
    attention_map,
    plot_attention,
    plot_training_curves,
    plot_word_attention,  # noqa: E402
    read_metrics,
)
from qattn_hybrid.modeling.model import MultiTaskModel  # noqa: E402
from qattn_hybrid.tasks.kinds import ClassificationTask  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
METRICS = """epoch,split,task,metric,value
1,train,intent,loss,1.1
1,validation,intent,loss,1.0
1,validation,intent,accuracy,0.4
2,train,intent,loss,0.9
2,validation,intent,loss,0.8
2,validation,intent,accuracy,0.6
1,train,score,loss,2.0
1,validation,score,mse,1.5
2,train,score,loss,1.0
2,validation,score,mse,0.9
"""


@pytest.fixture
def model(make_encoder):
    torch.manual_seed(0)
    config = ModelConfig(encoder="tiny", circuit={"n_qubits": 2, "n_layers": 1}, n_heads=2,
                         max_length=16)
    tasks = [ClassificationTask("intent", ("card", "travel")),
             ClassificationTask("sentiment", ("neg", "pos"))]
    return MultiTaskModel(config, tasks, make_encoder())


@pytest.fixture
def figures(monkeypatch) -> list:
    """The figures the plots save, in order (they are still written)."""
    import qattn_hybrid.evaluation.plots as plots

    saved = []
    real_save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: (saved.append(fig),
                                                           real_save(fig, path))[1])
    return saved


class TestTrainingCurves:
    def test_writes_a_png(self, tmp_path):
        (tmp_path / "metrics.csv").write_text(METRICS)
        path = plot_training_curves(tmp_path, tmp_path / "plots" / "curves.png")
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5000
        assert not list((tmp_path / "plots").glob(".tmp-*"))

    def test_reads_the_series(self, tmp_path):
        (tmp_path / "metrics.csv").write_text(METRICS)
        series = read_metrics(tmp_path / "metrics.csv")
        assert series["intent"][("validation", "accuracy")] == ([1, 2], [0.4, 0.6])

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="metrics file .* does not exist"):
            plot_training_curves(tmp_path / "none.csv", tmp_path / "c.png")

    def test_wrong_columns(self, tmp_path):
        (tmp_path / "m.csv").write_text("a,b\n1,2\n")
        with pytest.raises(ValueError, match="must have the columns"):
            read_metrics(tmp_path / "m.csv")


class TestAttention:
    def test_map_has_one_row_per_task_and_head(self, model):
        tokens, rows, weights = attention_map(model, "what is my card balance")
        assert rows == ["intent [head 0]", "intent [head 1]", "sentiment [head 0]",
                        "sentiment [head 1]"]
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "card" in tokens
        assert weights.shape == (4, len(tokens))
        torch.testing.assert_close(weights.sum(-1), torch.ones(4))

    def test_heatmap_png(self, model, tmp_path):
        path = plot_attention(model, "book a flight please", tmp_path / "att.png", ["intent"])
        assert path.read_bytes().startswith(PNG)

    def test_word_heatmap_png(self, model, tmp_path, figures):
        amap = word_attention(model, "check my card balance please")
        path = plot_word_attention(amap, tmp_path / "words.png")
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5000
        ax = figures[0].axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == amap.words
        rows = [t.get_text() for t in ax.get_yticklabels()]
        assert rows[0] == f"intent: {amap.labels[0]} ({amap.probabilities[0]:.2f})"
        assert "special tokens ([CLS], [SEP], not shown)" in ax.get_xlabel()
        assert len(ax.texts) == 2 * 5  # every cell annotated
        assert "of 5 words were read" not in ax.get_xlabel()

    def test_word_heatmap_says_when_words_were_cut(self, model, tmp_path, figures):
        plot_word_attention(word_attention(model, " ".join(["card"] * 20), ["intent"]),
                            tmp_path / "long.png")  # 22 tokens, max_length 16
        caption = figures[0].axes[0].get_xlabel()
        assert "only the first 14 of 20 words were read" in caption
        assert "mean pooling: 1/16 = 0.06 per token" in caption

    def test_empty_text(self, model):
        with pytest.raises(ValueError, match="text must be a non-empty str"):
            attention_map(model, "")

    def test_unknown_task(self, model, tmp_path):
        with pytest.raises(KeyError, match="Unknown task 'weather'"):
            plot_attention(model, "hello", tmp_path / "a.png", ["weather"])


OOS_METRICS = "epoch,split,task,metric,value\n" + "".join(
    f"{e},{s},oos,{m},{v}\n" for e in range(1, 7) for s, m, v in (
        ("train", "loss", 1.5 / e), ("validation", "loss", 1.6 / e),
        ("validation", "accuracy", 0.5 + 0.08 * e), ("validation", "macro_f1", 0.45 + 0.09 * e),
        ("validation", "in_scope_accuracy", 0.55 + 0.07 * e),
        ("validation", "oos_recall", 0.98 - 0.1 * e)))


class TestLegends:
    def test_no_legend_covers_a_curve(self, tmp_path, figures):
        """An OOS panel has four metric curves spanning the whole plot: its legend used to be
        drawn over one of them."""
        (tmp_path / "metrics.csv").write_text(OOS_METRICS)
        plot_training_curves(tmp_path, tmp_path / "curves.png")
        (fig,) = figures
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        legends = 0
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            legends += 1
            box = legend.get_window_extent(renderer)
            for line in ax.lines:
                points = ax.transData.transform(line.get_xydata())
                inside = [p for p in points if box.contains(*p)]
                assert not inside, (line.get_label(), inside)
                assert ax.get_window_extent(renderer).x1 <= box.x0 + 1  # beside the axes
        assert legends == 2
