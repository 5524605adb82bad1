"""The web page in a real browser: headless Chromium (Debian's chromium + chromium-driver)
driven by selenium against a real uvicorn server. Skips with the reason when either is
missing; `.ci/run` installs them."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Chromium and its driver: apt-get install -y chromium chromium-driver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(model_dir):
    from qattn_hybrid.serving.app import ServerSettings, create_app, load_predictor

    port = free_port()
    app = create_app(ServerSettings(port=port), load_predictor(model_dir))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_type_submit_see_labels_and_heat_map(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=task]")))
    boxes = browser.find_elements(By.CSS_SELECTOR, "input[name=task]")
    assert [b.get_attribute("value") for b in boxes] == ["intent", "sentiment", "score"]
    boxes[1].click()  # untick sentiment: only intent and score come back
    browser.find_element(By.ID, "text").send_keys("i want to pay my card bill")
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".task-result .token")))
    cards = browser.find_elements(By.CSS_SELECTOR, ".task-result")
    assert [c.get_attribute("data-task") for c in cards] == ["intent", "score"]
    label = cards[0].find_element(By.CSS_SELECTOR, ".label").text
    assert label in ("card", "payment", "travel")
    bars = cards[0].find_elements(By.CSS_SELECTOR, ".prob-bar")
    assert len(bars) == 3 and float(bars[0].value_of_css_property("width").rstrip("px")) > 0
    tokens = [t.text for t in cards[0].find_elements(By.CSS_SELECTOR, ".heatmap .token")]
    assert tokens[:2] == ["[CLS]", "i"] and "[SEP]" in tokens
    assert len(cards[0].find_elements(By.CSS_SELECTOR, ".heatmap")) == 2  # one per head
    colours = {t.value_of_css_property("background-color")
               for t in cards[0].find_elements(By.CSS_SELECTOR, ".heatmap .token")}
    assert len(colours) > 1  # the heat map shades tokens by weight
    top = cards[0].find_element(By.CSS_SELECTOR, ".top-words").text
    assert top.startswith("Most attended: ")
    words = [part.rsplit(" ", 1)[0] for part in top.removeprefix("Most attended: ").split(", ")]
    assert len(words) == 3 and set(words) <= set("i want to pay my card bill".split())
    shot = tmp_path / "serve.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000


def test_top_words_join_word_pieces(server, browser):
    """"xyz" is three word pieces (x ##y ##z) of the tiny vocabulary: listed as one word with
    their summed weight, and no special token is listed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=task]")))
    browser.find_element(By.ID, "text").send_keys("check xyz")
    browser.find_element(By.ID, "submit").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".task-result .top-words")))
    card = browser.find_elements(By.CSS_SELECTOR, ".task-result")[0]
    tokens = [t.text for t in card.find_elements(By.CSS_SELECTOR, ".heatmap .token")]
    assert tokens[:len(tokens) // 2] == ["[CLS]", "check", "x", "##y", "##z", "[SEP]"]
    top = card.find_element(By.CSS_SELECTOR, ".top-words").text.removeprefix("Most attended: ")
    shown = {part.rsplit(" ", 1)[0]: part.rsplit(" ", 1)[1] for part in top.split(", ")}
    assert sorted(shown) == ["check", "xyz"]
    # the reference: each head's token weights from the heat map's tooltips, averaged by hand
    rows = [[float(t.get_attribute("title").rsplit(": ", 1)[1])
             for t in m.find_elements(By.CSS_SELECTOR, ".token")]
            for m in card.find_elements(By.CSS_SELECTOR, ".heatmap")]
    mean = [sum(col) / len(rows) for col in zip(*rows)]
    percent = {w: float(v.rstrip("%")) for w, v in shown.items()}  # (tooltips: 3 decimals)
    assert percent["check"] == pytest.approx(100 * mean[1], abs=0.6)
    assert percent["xyz"] == pytest.approx(100 * (mean[2] + mean[3] + mean[4]), abs=0.6)
