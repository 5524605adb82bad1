"""The alerting rules (qattn_hybrid/serving/alerts.yml): promtool checks them and runs their
unit tests (alerts_test.yml), and every metric and label they use is one the server exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "qattn_hybrid" / "serving" / "alerts.yml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yml")
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="needs promtool: apt-get install -y prometheus (.ci/run does, as "
    "root)")

# `qattn monitor`'s gauges and counter, as agreed with it (it is built elsewhere: when it is
# merged, scrape it here like the server below)
MONITOR_METRICS = {"qattn_monitor_negative_share": {"topic"},
                   "qattn_monitor_baseline_negative_share": {"topic"},
                   "qattn_monitor_surge": {"topic"}, "qattn_monitor_alerts_total": {"topic"}}
SCRAPE_LABELS = {"job", "instance"}  # added by Prometheus when it scrapes
SELECTOR = re.compile(r"\b(qattn_\w+)\s*(\{[^}]*\})?")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"")
GROUPING = re.compile(r"\b(?:by|on|without|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def promtool(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text("utf-8"))["groups"] for r in g["rules"]]


@needs_promtool
class TestPromtool:
    def test_check_rules(self):
        r = promtool("check", "rules", str(RULES))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "SUCCESS: 5 rules found" in r.stdout

    def test_unit_tests_pass(self):
        r = promtool("test", "rules", str(UNIT_TESTS))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "SUCCESS" in r.stdout

    @pytest.mark.parametrize("old, new", [("> 0.05", "> 0.5"), ("> 1\n", "> 5\n"),
                                          ("for: 5m", "for: 1m"), ("== 1)", "== 0)")])
    def test_unit_tests_catch_a_changed_rule(self, tmp_path, old, new):
        text = RULES.read_text("utf-8")
        assert old in text
        (tmp_path / "qattn_hybrid" / "serving").mkdir(parents=True)
        (tmp_path / "qattn_hybrid" / "serving" / "alerts.yml").write_text(
            text.replace(old, new, 1), encoding="utf-8")
        tests = tmp_path / "tests" / "qattn_hybrid" / "serving"
        tests.mkdir(parents=True)
        shutil.copy(UNIT_TESTS, tests / UNIT_TESTS.name)
        r = promtool("test", "rules", str(tests / UNIT_TESTS.name))
        assert r.returncode != 0 and "FAILED" in r.stdout + r.stderr


def exported(page: str) -> dict[str, set[str]]:
    """Series name -> label names on it, from a /metrics page."""
    series: dict[str, set[str]] = {}
    for line in page.splitlines():
        if line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            name = name.split()[0]
            labels = set(MATCHER.findall(rest)) if rest else set()
            series.setdefault(name, set()).update(labels)
    return series


@pytest.fixture(scope="module")
def served(model_dir):
    """Series -> labels on a tiny server's /metrics (after a 200 and a 422), plus the
    monitor's."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from qattn_hybrid.serving.app import ServerSettings, create_app, load_predictor

    app = create_app(ServerSettings(), load_predictor(model_dir, fold=True))
    with TestClient(app) as c:
        assert c.post("/v1/predict", json={"texts": ["a card"]}).status_code == 200
        assert c.post("/v1/predict", json={"texts": [" "]}).status_code == 422
        page = c.get("/metrics").text
    series = exported(page)
    series.update(MONITOR_METRICS)
    return series


class TestNamesMatchTheServer:
    def test_every_selector_names_an_exported_series_and_its_labels(self, served):
        used = 0
        for rule in rules():
            for name, matchers in SELECTOR.findall(rule["expr"]):
                assert name in served, f"{rule['alert']}: {name} is not exported"
                labels = set(MATCHER.findall(matchers))
                assert labels <= served[name], (f"{rule['alert']}: {name} has no label "
                                                f"{sorted(labels - served[name])}")
                used += 1
        assert used == 7

    def test_grouping_labels_exist(self, served):
        every = set().union(*served.values()) | SCRAPE_LABELS
        for rule in rules():
            for group in GROUPING.findall(rule["expr"]):
                names = {n.strip() for n in group.split(",") if n.strip()}
                assert names <= every, f"{rule['alert']}: unknown labels {names - every}"

    def test_the_parser_reads_the_page(self, served):
        # independent of the rules: what the server's docstring promises is on the page
        assert served["qattn_requests_total"] == {"path", "status"}
        assert served["qattn_request_duration_seconds_bucket"] == {"path", "le"}
        for gauge in ("qattn_queue_depth", "qattn_queue_texts", "qattn_model_ready"):
            assert served[gauge] == set()

    def test_rules_ship_with_the_package(self):
        pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
        assert '"serving/alerts.yml"' in pyproject
        alerts = {r["alert"] for r in rules()}
        assert alerts == {"QattnHighErrorRate", "QattnHighLatencyP99", "QattnQueueBacklog",
                          "QattnModelNotReady", "QattnSentimentSurge"}
        assert all(r["labels"]["severity"] in ("warning", "critical") for r in rules())
