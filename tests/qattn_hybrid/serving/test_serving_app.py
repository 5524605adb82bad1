"""The HTTP server: predictions equal the library's, auth, bad input, metrics, batching."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from qattn_hybrid.cli.parser import main  # noqa: E402
from qattn_hybrid.serving.app import (ServerSettings, create_app, load_predictor,  # noqa: E402
                                      read_api_key)
from qattn_hybrid.serving.batching import DynamicBatcher  # noqa: E402
from qattn_hybrid.serving.predictor import ModelPredictor  # noqa: E402

KEY = "s3cret-key-0123456789"
TEXTS = ["what is my card balance", "book a flight please", "shares rise today"]


@pytest.fixture(scope="module")
def folded(model_dir):
    return load_predictor(model_dir, fold=True)


@pytest.fixture
def client(folded):
    with TestClient(create_app(ServerSettings(max_texts=4, max_bytes=2048), folded)) as c:
        yield c


@pytest.fixture
def secured(folded):
    app = create_app(ServerSettings(), folded, api_key=KEY)
    with TestClient(app) as c:
        yield c


def metric(client, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class TestPredict:
    def test_matches_the_library(self, client, loaded_model):
        r = client.post("/v1/predict", json={"texts": TEXTS})
        assert r.status_code == 200
        served = r.json()["predictions"]
        reference = ModelPredictor(loaded_model).predict(TEXTS)  # the circuits, not folded
        for s, ref, text in zip(served, reference, TEXTS):
            assert s["text"] == text and s["tokens"] == ref["tokens"]
            assert s["tokens"][0] == "[CLS]" and s["truncated"] is False
            assert set(s["tasks"]) == {"intent", "sentiment", "score"}
            for task in ("intent", "sentiment"):
                got, want = s["tasks"][task], ref["tasks"][task]
                assert got["label"] == want["label"]
                assert list(got["probabilities"]) == list(want["probabilities"])
                assert np.allclose(list(got["probabilities"].values()),
                                   list(want["probabilities"].values()), atol=1e-5, rtol=0)
                attention = np.array(got["attention"])
                assert attention.shape == (2, len(s["tokens"]))  # (heads, tokens)
                assert np.allclose(attention, want["attention"], atol=1e-5, rtol=0)
                assert np.allclose(attention.sum(-1), 1, atol=1e-5)
            assert abs(s["tasks"]["score"]["prediction"]
                       - ref["tasks"]["score"]["prediction"]) <= 1e-5

    def test_equals_qattn_predict(self, client, model_dir, capsys):
        assert main(["predict", str(model_dir), *TEXTS, "--task", "intent", "-q"]) == 0
        printed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
        r = client.post("/v1/predict", json={"texts": TEXTS, "tasks": ["intent"]})
        served = [p["tasks"]["intent"]["label"] for p in r.json()["predictions"]]
        assert served == printed
        assert all(set(p["tasks"]) == {"intent"} for p in r.json()["predictions"])

    def test_truncated_flag(self, client):
        r = client.post("/v1/predict", json={"texts": ["good " * 30, "bad"]})
        first, second = r.json()["predictions"]
        assert first["truncated"] is True and len(first["tokens"]) == 12  # max_length
        assert second["truncated"] is False

    def test_health_ready_and_page(self, client):
        assert client.get("/healthz").json() == {"status": "alive"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["tasks"] == ["intent", "sentiment", "score"]
        page = client.get("/")
        assert page.status_code == 200 and 'id="text"' in page.text
        assert "http" not in page.text.replace("http-equiv", "")  # nothing external
        assert client.get("/static/app.js").status_code == 200

    def test_not_ready_until_loaded(self):
        release = threading.Event()

        def factory():
            release.wait(10)
            raise RuntimeError("no model here")

        with TestClient(create_app(ServerSettings(), predictor_factory=factory)) as c:
            assert c.get("/readyz").status_code == 503
            r = c.post("/v1/predict", json={"texts": ["hi"]})
            assert r.status_code == 503 and r.json()["error"] == "not_ready"
            assert c.get("/healthz").status_code == 200
            release.set()


class TestAuth:
    def test_missing_key_401(self, secured):
        r = secured.post("/v1/predict", json={"texts": ["hi"]})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        assert secured.get("/v1/tasks", headers={"Authorization": "Basic abc"}).status_code == 401

    def test_wrong_key_403(self, secured, caplog):
        caplog.set_level(logging.DEBUG)
        r = secured.post("/v1/predict", json={"texts": ["hi"]},
                         headers={"Authorization": "Bearer wrong-key-0123456789"})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        assert KEY not in r.text and KEY not in caplog.text

    def test_right_key(self, secured, caplog):
        caplog.set_level(logging.DEBUG)
        r = secured.post("/v1/predict", json={"texts": ["hi"]},
                         headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200
        assert secured.get("/healthz").status_code == 200  # health needs no key
        assert KEY not in caplog.text

    def test_compare_is_constant_time(self, monkeypatch):
        import hmac

        from qattn_hybrid.serving import app as app_module

        calls = []
        monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or False)
        with pytest.raises(app_module.BadRequest, match="not valid"):
            app_module.check_auth("Bearer nope", KEY)
        assert calls == [(b"nope", KEY.encode())]

    def test_no_key_means_localhost_only(self):
        with pytest.raises(ValueError, match="host must be localhost .* got '0.0.0.0'"):
            ServerSettings(host="0.0.0.0").check()
        ServerSettings(host="0.0.0.0", api_key_file="k").check()

    def test_key_file(self, tmp_path):
        (tmp_path / "k").write_text(KEY + "\n")
        assert read_api_key(tmp_path / "k") == KEY
        (tmp_path / "short").write_text("abc")
        with pytest.raises(ValueError, match="api-key-file must hold one key of at least 16"):
            read_api_key(tmp_path / "short")
        with pytest.raises(FileNotFoundError, match="does not exist"):
            read_api_key(tmp_path / "missing")


BAD = [
    ({"texts": []}, 422, "invalid_texts", "texts must be a non-empty list of strings"),
    ({"texts": "hello"}, 422, "invalid_texts", "got a string"),
    ({"texts": [""]}, 422, "empty_text", r"texts\[0\] must contain non-whitespace"),
    ({"texts": ["ok", "  \n\t"]}, 422, "empty_text", r"texts\[1\] must contain"),
    ({"texts": ["ok", 3]}, 422, "invalid_texts", r"texts\[1\] must be a string; got a number"),
    ({"texts": ["a"] * 5}, 413, "too_many_texts", "at most 4 strings; got 5"),
    ({"texts": ["ok"], "tasks": ["weather"]}, 422, "unknown_task", r"got unknown \['weather'\]"),
    ({"texts": ["ok"], "tasks": "intent"}, 422, "invalid_tasks", "tasks must be a non-empty list"),
    ({"texts": ["ok"], "task": ["intent"]}, 422, "invalid_request", r"unknown \['task'\]"),
    ([1, 2], 422, "invalid_request", "body must be a JSON object"),
    ({"texts": ["x" * 3000]}, 413, "payload_too_large", "at most 2048 bytes"),
]


class TestBadInput:
    @pytest.mark.parametrize("body,status,kind,message", BAD)
    def test_rejected_with_json_error(self, client, body, status, kind, message):
        import re

        r = client.post("/v1/predict", json=body)
        assert r.status_code == status
        assert r.json()["error"] == kind and re.search(message, r.json()["detail"])

    def test_chunked_body_over_the_limit(self, client):
        def chunks():
            yield b'{"texts": ["'
            for _ in range(40):
                yield b"x" * 100
            yield b'"]}'

        r = client.post("/v1/predict", content=chunks(),
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"

    def test_invalid_json(self, client):
        r = client.post("/v1/predict", content=b"{not json",
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"] == "invalid_json"
        r = client.post("/v1/predict", content=b"\xff\xfe", headers={"Content-Type": "x"})
        assert r.status_code == 400
        assert client.get("/healthz").status_code == 200  # still up


class TestMetrics:
    def test_counters_move(self, client):
        ok = 'qattn_requests_total{path="/v1/predict",status="200"}'
        bad = 'qattn_requests_total{path="/v1/predict",status="422"}'
        before = (metric(client, ok), metric(client, bad), metric(client, "qattn_texts_total"))
        client.post("/v1/predict", json={"texts": ["a", "b"]})
        client.post("/v1/predict", json={"texts": [""]})
        assert metric(client, ok) == before[0] + 1
        assert metric(client, bad) == before[1] + 1
        assert metric(client, "qattn_texts_total") == before[2] + 2
        assert metric(client, 'qattn_errors_total{kind="empty_text"}') >= 1
        assert metric(client, "qattn_batch_size_count") >= 1
        assert metric(client, 'qattn_request_duration_seconds_count{path="/v1/predict"}') >= 2
        assert metric(client, "qattn_model_ready") == 1
        assert metric(client, "qattn_texts_per_second") > 0


class TestBatching:
    def test_concurrent_requests_share_a_forward_pass(self):
        sizes = []

        def predict(texts, tasks):
            sizes.append(len(texts))
            return [{"tokens": [t], "truncated": False, "tasks": {"a": {"label": t}}}
                    for t in texts]

        async def go():
            batcher = DynamicBatcher(predict, max_batch=8, max_wait_ms=50)
            results = await asyncio.gather(*[batcher.predict([f"t{i}", f"u{i}"], None)
                                             for i in range(10)])
            await batcher.close()
            return results

        results = asyncio.run(go())
        assert [r[0]["tokens"] for r in results] == [[f"t{i}"] for i in range(10)]
        assert [r[1]["tasks"]["a"]["label"] for r in results] == [f"u{i}" for i in range(10)]
        assert sum(sizes) == 20 and max(sizes) <= 8 and len(sizes) <= 4  # 20 texts, <= 8 each

    def test_large_request_runs_in_chunks_and_errors_reach_the_caller(self):
        sizes = []

        def predict(texts, tasks):
            sizes.append(len(texts))
            if "boom" in texts:
                raise RuntimeError("boom")
            return [{"tokens": [], "truncated": False, "tasks": {}} for _ in texts]

        async def go():
            batcher = DynamicBatcher(predict, max_batch=3, max_wait_ms=0)
            out = await batcher.predict(list("abcdefg"), None)
            with pytest.raises(RuntimeError, match="boom"):
                await batcher.predict(["boom"], None)
            again = await batcher.predict(["z"], None)  # the worker survived
            await batcher.close()
            return out, again

        out, again = asyncio.run(go())
        assert len(out) == 7 and sizes[:3] == [3, 3, 1] and len(again) == 1

    def test_settings_are_checked(self):
        with pytest.raises(ValueError, match="max_batch must be a positive int; got 0"):
            DynamicBatcher(lambda t, k: [], max_batch=0)
        with pytest.raises(ValueError, match="max-batch must be a positive int; got 0"):
            ServerSettings(max_batch=0).check()


def test_circuit_path_serves_the_same(model_dir, folded):
    circuit = load_predictor(model_dir, fold=False)
    with TestClient(create_app(ServerSettings(fold=False), circuit)) as c:
        r = c.post("/v1/predict", json={"texts": TEXTS[:2]}).json()["predictions"]
    f = folded.predict(TEXTS[:2])
    assert [p["tasks"]["intent"]["label"] for p in r] == [p["tasks"]["intent"]["label"] for p in f]
    assert json.dumps(r[0]["tokens"]) == json.dumps(f[0]["tokens"])
