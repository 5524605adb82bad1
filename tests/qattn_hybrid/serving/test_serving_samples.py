"""Stored request samples and masked logs of the server; the queue gauges."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from qattn_hybrid.cli.parser import build_parser  # noqa: E402
from qattn_hybrid.serving.app import ServerSettings, create_app, load_predictor  # noqa: E402
from qattn_hybrid.serving.batching import DynamicBatcher  # noqa: E402
from qattn_hybrid.serving.samples import SampleStore  # noqa: E402

EMAIL = "jo.doe@example.com"
TEXT = f"email {EMAIL} about my card 4111 1111 1111 1111"
MASKED = "email [email] about my card [card]"


@pytest.fixture(scope="module")
def folded(model_dir):
    return load_predictor(model_dir, fold=True)


def serve(folded, **settings):
    return TestClient(create_app(ServerSettings(**settings), folded))


def read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").split("\n") if line]


class TestStoredSamples:
    def test_masked_by_default(self, folded, tmp_path):
        path = tmp_path / "samples.jsonl"
        with serve(folded, store_samples=str(path)) as c:
            r = c.post("/v1/predict", json={"texts": [TEXT, "book a flight"],
                                            "tasks": ["intent", "score"]})
        assert r.status_code == 200
        served = r.json()["predictions"]
        assert served[0]["text"] == TEXT  # the caller gets its own text back
        rows = read(path)
        assert [row["text"] for row in rows] == [MASKED, "book a flight"]
        assert EMAIL not in path.read_text("utf-8")
        for row, p in zip(rows, served):  # the labels served, per task asked
            assert row["tasks"] == {"intent": p["tasks"]["intent"]["label"],
                                    "score": p["tasks"]["score"]["prediction"]}
            assert row["time"].endswith("Z") and len(row["time"]) == 20

    def test_no_mask_keeps_the_text(self, folded, tmp_path):
        path = tmp_path / "samples.jsonl"
        with serve(folded, store_samples=str(path), mask=False) as c:
            assert c.post("/v1/predict", json={"texts": [TEXT]}).status_code == 200
        assert [row["text"] for row in read(path)] == [TEXT]

    def test_bounded_across_restarts(self, folded, tmp_path, caplog):
        path = tmp_path / "samples.jsonl"
        with serve(folded, store_samples=str(path), max_samples=3) as c:
            c.post("/v1/predict", json={"texts": ["a one", "a two"]})
        with caplog.at_level(logging.WARNING), \
                serve(folded, store_samples=str(path), max_samples=3) as c:
            c.post("/v1/predict", json={"texts": ["b one", "b two"]})  # one fits
            c.post("/v1/predict", json={"texts": ["c one"]})
        assert [row["text"] for row in read(path)] == ["a one", "a two", "b one"]
        assert caplog.text.count("is full (3 samples)") == 1  # said once

    def test_torn_last_line_is_ended(self, tmp_path):
        path = tmp_path / "samples.jsonl"
        path.write_text('{"text": "whole"}\n{"text": "cut of', encoding="utf-8")
        store = SampleStore(path, max_samples=3)
        assert store.count == 2
        assert store.add(["x", "y"], [{"tasks": {}}, {"tasks": {}}]) == 1
        lines = path.read_text("utf-8").split("\n")
        assert lines[:2] == ['{"text": "whole"}', '{"text": "cut of']
        assert json.loads(lines[2])["text"] == "x" and lines[3:] == [""]

    def test_concurrent_writers_never_interleave(self, tmp_path):
        path = tmp_path / "samples.jsonl"
        stores = [SampleStore(path, max_samples=10_000) for _ in range(2)]  # two "processes"
        texts = ["t" * 3000] * 4  # 12 kB per request

        def write(store):
            for _ in range(50):
                store.add(texts, [{"tasks": {}}] * 4)

        threads = [threading.Thread(target=write, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = read(path)
        assert len(rows) == 400 and all(row["text"] == texts[0] for row in rows)

    def test_bad_settings(self, tmp_path):
        with pytest.raises(ValueError, match="max-samples must be a positive int; got 0"):
            SampleStore(tmp_path / "s.jsonl", max_samples=0)
        with pytest.raises(ValueError, match="max-samples must be a positive int; got 0"):
            ServerSettings(max_samples=0).check()
        with pytest.raises(ValueError, match="store-samples must be a file path; got the "
                           "folder"):
            SampleStore(tmp_path)
        with pytest.raises(FileNotFoundError, match="store-samples folder .*missing does not "
                           "exist"):
            SampleStore(tmp_path / "missing" / "s.jsonl")

    def test_cli_flags(self):
        args = build_parser().parse_args(["serve", "run", "--store-samples", "s.jsonl",
                                     "--max-samples", "5", "--no-mask"])
        assert (args.store_samples, args.max_samples, args.no_mask) == ("s.jsonl", 5, True)
        args = build_parser().parse_args(["serve", "run"])
        assert (args.store_samples, args.max_samples, args.no_mask) == (None, 1000, False)


class TestMaskedLogs:
    def test_request_text_is_logged_masked(self, folded, caplog):
        with caplog.at_level(logging.DEBUG, logger="qattn_hybrid.serving"), \
                serve(folded) as c:
            c.post("/v1/predict", json={"texts": [TEXT]})
            c.post("/v1/predict", json={"texts": ["hi"], "tasks": [EMAIL]})  # rejected
        assert MASKED in caplog.text
        assert "got unknown ['[email]']" in caplog.text
        assert EMAIL not in caplog.text and "4111 1111" not in caplog.text

    def test_no_mask_logs_the_text(self, folded, caplog):
        with caplog.at_level(logging.DEBUG, logger="qattn_hybrid.serving"), \
                serve(folded, mask=False) as c:
            c.post("/v1/predict", json={"texts": [TEXT]})
        assert TEXT in caplog.text

    def test_failed_forward_pass_traceback_is_masked(self, caplog):
        class Failing:
            tasks = [{"name": "intent", "labels": ["a"]}]

            def predict(self, texts, tasks):
                raise RuntimeError(f"cannot read {texts[0]}")

        with caplog.at_level(logging.ERROR), serve(Failing()) as c:
            assert c.post("/v1/predict", json={"texts": [TEXT]}).status_code == 500
        assert "forward pass failed" in caplog.text
        assert f"RuntimeError: cannot read {MASKED}" in caplog.text
        assert EMAIL not in caplog.text

    def test_filters_go_when_the_app_stops(self, folded):
        logger = logging.getLogger("qattn_hybrid.serving.app")
        before = list(logger.filters)
        with serve(folded):
            assert len(logger.filters) == len(before) + 1
        assert logger.filters == before


class TestQueueGauges:
    def test_batcher_counts_what_waits(self):
        release, started = threading.Event(), threading.Event()

        def predict(texts, tasks):
            started.set()
            release.wait(5)
            return [{"tokens": [], "truncated": False, "tasks": {}} for _ in texts]

        async def go():
            batcher = DynamicBatcher(predict, max_batch=4, max_wait_ms=0)
            first = asyncio.ensure_future(batcher.predict(["a", "b", "c"], None))
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
            seen = [(batcher.queued_requests, batcher.queued_texts)]  # first one runs
            rest = [asyncio.ensure_future(batcher.predict(["x"] * n, None)) for n in (2, 3)]
            await asyncio.sleep(0.05)
            seen.append((batcher.queued_requests, batcher.queued_texts))
            release.set()
            await asyncio.gather(first, *rest)
            seen.append((batcher.queued_requests, batcher.queued_texts))
            await batcher.close()
            return seen

        # the pass running is not counted; while it runs two requests wait (2 + 3 texts);
        # all done: nothing
        assert asyncio.run(go()) == [(0, 0), (2, 5), (0, 0)]

    def test_exported(self, folded):
        with serve(folded) as c:
            c.post("/v1/predict", json={"texts": ["a"]})
            page = c.get("/metrics").text
        for gauge in ("qattn_queue_depth", "qattn_queue_texts"):
            assert re.search(rf"# TYPE {gauge} gauge\n{gauge} 0(\.0)?\n", page), page
