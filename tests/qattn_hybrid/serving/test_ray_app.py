"""Ray Serve: the served app on a local Ray cluster (predictions equal the library's, auth),
replicas growing under a bounded loopback load and shrinking after; bad settings; the extra."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi")

from qattn_hybrid.cli.parser import main  # noqa: E402
from qattn_hybrid.serving.app import ServerSettings  # noqa: E402
from qattn_hybrid.serving.predictor import ModelPredictor  # noqa: E402
from qattn_hybrid.serving.ray_app import ScalingSettings  # noqa: E402

KEY = "s3cret-key-0123456789"
TEXTS = ["what is my card balance", "book a flight please", "shares rise today"]
HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="needs Ray: pip install 'qattn-hybrid[ray]'")
# Ray Serve reports load to its autoscaler every 10 s by default; 0.5 s keeps the test short.
# Read when Ray's processes start, so set before ray.init (and restored after).
FAST_METRICS = {"RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.5",
                "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.5"}


class TestScalingSettings:
    @pytest.mark.parametrize("changes, message", [
        ({"min_replicas": 0}, r"min-replicas must be an int >= 1; got 0"),
        ({"max_replicas": 1.5}, r"max-replicas must be an int >= 1; got 1.5"),
        ({"min_replicas": 3, "max_replicas": 2},
         r"max-replicas must be >= min-replicas \(3\); got 2"),
        ({"target_ongoing_requests": 0}, r"target-ongoing-requests must be a number > 0; got 0"),
        ({"max_ongoing_requests": 1, "target_ongoing_requests": 2},
         r"max-ongoing-requests must be >= target-ongoing-requests \(2\); got 1"),
        ({"downscale_delay_s": -1}, r"downscale-delay-s must be a number >= 0; got -1"),
        ({"cpus_per_replica": True}, r"cpus-per-replica must be a number > 0; got True"),
    ])
    def test_bad_values(self, changes, message):
        with pytest.raises(ValueError, match=message):
            ScalingSettings(**changes).check()

    @needs_ray
    def test_ray_accepts_the_config(self):
        from ray.serve.config import AutoscalingConfig

        scaling = ScalingSettings(min_replicas=2, max_replicas=5, target_ongoing_requests=3)
        ray_config = AutoscalingConfig(**scaling.autoscaling_config())
        assert (ray_config.min_replicas, ray_config.max_replicas, ray_config.initial_replicas,
                ray_config.target_ongoing_requests) == (2, 5, 2, 3)
        assert (ray_config.upscale_delay_s, ray_config.downscale_delay_s) == (30, 600)


class TestCommand:
    """Errors come before Ray is needed or started."""

    def test_bad_bounds(self, model_dir, capsys):
        argv = ["serve-ray", str(model_dir), "--min-replicas", "3", "--max-replicas", "2"]
        assert main(argv) == 2
        assert capsys.readouterr().err.strip() == (
            "qattn serve-ray: error: max-replicas must be >= min-replicas (3); got 2")

    def test_bad_server_settings(self, model_dir, capsys):
        assert main(["serve-ray", str(model_dir), "--host", "0.0.0.0"]) == 2
        assert "host must be localhost" in capsys.readouterr().err

    def test_needs_the_extra(self, model_dir, monkeypatch, capsys):
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "ray" else find_spec(name, *a))
        assert main(["serve-ray", str(model_dir)]) == 2
        assert capsys.readouterr().err.strip() == (
            "qattn serve-ray: error: this command needs ray; install it with: "
            "pip install 'qattn-hybrid[ray]'")

    def test_shares_the_serve_options(self):
        from qattn_hybrid.cli.parser import build_parser

        sub = next(a for a in build_parser()._actions if a.dest == "command").choices
        serve = {a.dest for a in sub["serve"]._actions}
        ray = {a.dest for a in sub["serve-ray"]._actions}
        assert serve < ray
        assert ray - serve == {"min_replicas", "max_replicas", "target_ongoing_requests",
                               "max_ongoing_requests", "upscale_delay_s", "downscale_delay_s",
                               "cpus_per_replica", "address"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict, key: str | None = KEY, timeout: float = 60):
    """(status, JSON body) of a POST."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _wait_for(condition, timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


@pytest.fixture(scope="module")
def ray_url(model_dir, tmp_path_factory):
    """The app on a fresh 2-CPU local Ray cluster: 1-2 replicas of 1 CPU, quick to react."""
    import ray
    from ray import serve

    from qattn_hybrid.serving.ray_app import deploy

    key_file = tmp_path_factory.mktemp("ray_key") / "key"
    key_file.write_text(KEY + "\n")
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAST_METRICS.items():
            env.setenv(name, value)
        settings = ServerSettings(run_dir=str(model_dir), port=_free_port(),
                                  api_key_file=str(key_file), max_wait_ms=2)
        scaling = ScalingSettings(min_replicas=1, max_replicas=2, target_ongoing_requests=1,
                                  max_ongoing_requests=4, upscale_delay_s=1,
                                  downscale_delay_s=2, look_back_period_s=2)
        options = {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}
        try:
            try:
                url = deploy(settings, scaling, ray_init=options)
            except ray.exceptions.ActorDiedError:
                # Ray's HTTP proxy actor has died during start-up on a machine loaded by other
                # jobs (seen once in a full local run); a second fresh cluster, then fail
                serve.shutdown()
                ray.shutdown()
                url = deploy(settings, scaling, ray_init=options)
            yield url
        finally:
            serve.shutdown()
            ray.shutdown()


@needs_ray
@pytest.mark.filterwarnings("ignore:`look_back_period_s`:FutureWarning")  # short on purpose
class TestOnRay:
    def test_predictions_match_the_library(self, ray_url, loaded_model):
        status, body = _post(ray_url + "/v1/predict", {"texts": TEXTS})
        assert status == 200
        reference = ModelPredictor(loaded_model).predict(TEXTS)  # the circuits, not folded
        for s, ref, text in zip(body["predictions"], reference, TEXTS):
            assert s["text"] == text and s["tokens"] == ref["tokens"]
            for task in ("intent", "sentiment"):
                got, want = s["tasks"][task], ref["tasks"][task]
                assert got["label"] == want["label"]
                assert np.allclose(list(got["probabilities"].values()),
                                   list(want["probabilities"].values()), atol=1e-5, rtol=0)
                assert np.allclose(got["attention"], want["attention"], atol=1e-5, rtol=0)
            assert abs(s["tasks"]["score"]["prediction"]
                       - ref["tasks"]["score"]["prediction"]) <= 1e-5

    def test_the_key_is_required(self, ray_url):
        status, body = _post(ray_url + "/v1/predict", {"texts": TEXTS}, key=None)
        assert status == 401 and body["error"] == "unauthorized"
        status, body = _post(ray_url + "/v1/predict", {"texts": []})
        assert status == 422 and body["error"] == "invalid_texts"

    def test_replicas_grow_under_load_and_shrink_after(self, ray_url):
        from qattn_hybrid.serving.ray_app import replica_count

        assert _wait_for(lambda: replica_count() == 1, 30)
        stop, statuses = threading.Event(), []

        def client(i: int) -> None:  # bounded: stops when told, or after 600 requests
            for j in range(600):
                if stop.is_set():
                    return
                statuses.append(_post(ray_url + "/v1/predict",
                                      {"texts": [TEXTS[(i + j) % 3]] * 4})[0])

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(8)]
        for t in threads:
            t.start()
        try:
            grew = _wait_for(lambda: replica_count() == 2, 90)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert grew, f"still {replica_count()} replica(s) after {len(statuses)} requests"
        assert statuses and set(statuses) == {200}
        assert _wait_for(lambda: replica_count() == 1 and replica_count("STOPPING") == 0, 90), (
            f"{replica_count()} replicas running 90 s after the load stopped")
