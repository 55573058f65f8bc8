"""The dashboard at / in a real browser (Debian's chromium driven by selenium through chromium-driver),
against a real gateway over the real Triton: no console errors, the symbols with data, a drawn chart,
the numbers of /analyze, and a posted bar shown within 5 s without a reload."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from gateway.schemas import ForecastPathResponse, PredictionResponse
from market_data.stores import open_store
from market_data.symbols import load_symbols
from tests.fixtures.programs import require_program
from tests.fixtures.requirements import requirement_missing
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]
try:
    from selenium import webdriver
except ImportError:
    requirement_missing("selenium is not installed (a dev dependency: make venv)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

HORIZON = 5  # the dashboard's horizon, the API's default
LOAD_TIMEOUT_S = 30.0
PUSH_DEADLINE_S = 5.0
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
CANDLE_COLOURS = ((0x11, 0x82, 0x3B), (0xC0, 0x39, 0x2B))  # dashboard.js: up and down candles
MEDIAN_COLOUR = (0x1D, 0x3F, 0xA8)  # dashboard.js: the forecast median line
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1150")


@pytest.fixture
def browser(tmp_path):
    chromium = require_program("chromium", "chromium")
    driver_path = require_program("chromedriver", "chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def rows(driver) -> dict[str, dict[str, str]]:
    """symbol -> {cell: data-value} of the table's rows."""
    found = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#symbols-table tbody tr"):
        cells = {td.get_attribute("class").split()[0]: td for td in row.find_elements(By.TAG_NAME, "td")}
        stale = bool(cells["date"].find_elements(By.CSS_SELECTOR, ".stale"))
        found[row.get_attribute("data-symbol")] = {
            name: (td.get_attribute("data-value") or "") for name, td in cells.items()} | {
            "price_text": cells["price"].text, "stale": str(stale).lower()}
    return found


def coloured_pixels(png: bytes, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(count for count, pixel in image.getcolors(image.width * image.height)
               if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True)))


def index_members_with_bars(home: Path) -> list[str]:
    async def stored() -> list[str]:
        async with open_store(None, home) as store:
            return list(await store.list_symbols())

    members = load_symbols()
    return sorted(symbol for symbol in asyncio.run(stored()) if symbol in members)


@pytest.fixture
def market_home(real_bars_home, tmp_path) -> Path:
    """A private copy of the real stooq files (the test posts a bar): index members and ARH (none), old data."""
    home = tmp_path / "market"
    shutil.copytree(real_bars_home, home)
    return home


def analyze(gateway, symbol: str) -> PredictionResponse:
    response = httpx.post(f"{gateway.url}/analyze", json={"symbol": symbol, "prediction_horizon": HORIZON},
                          timeout=30.0)
    assert response.status_code == 200, response.text
    return PredictionResponse.model_validate(response.json())


def test_dashboard_shows_the_analysis_and_follows_a_posted_bar(browser, start_gateway, market_home, tmp_path,
                                                               registry_serving):
    expected = index_members_with_bars(market_home)
    gateway = start_gateway(home=market_home, **registry_serving.env)
    browser.get(f"{gateway.url}/")
    wait = WebDriverWait(browser, LOAD_TIMEOUT_S)
    wait.until(lambda d: len(rows(d)) == len(expected) and all(r["price"] for r in rows(d).values()))
    wait.until(lambda d: d.find_element(By.ID, "chart").get_attribute("data-last-date"))

    shown = rows(browser)
    assert sorted(shown) == expected  # the index members with bars, and only those
    for symbol, cells in shown.items():
        prediction = analyze(gateway, symbol)
        assert float(cells["price"]) == prediction.current_price
        assert float(cells["price_text"]) == pytest.approx(prediction.current_price, abs=0.005)
        assert float(cells["confidence"]) == pytest.approx(prediction.confidence, abs=1e-6)
        assert (cells["direction"], cells["risk"]) == (prediction.direction, prediction.risk_level)
        assert cells["date"] == prediction.data_as_of.isoformat()
        assert cells["stale"] == str(prediction.stale).lower()  # flagged when the data are old

    selected = expected[1]
    browser.find_element(By.CSS_SELECTOR, f'#symbols-table tr[data-symbol="{selected}"]').click()
    wait.until(lambda d: d.find_element(By.ID, "selected-symbol").text == selected)
    wait.until(lambda d: d.find_element(By.ID, "chart").get_attribute("data-symbol") == selected)
    time.sleep(0.5)  # the chart paints on the next animation frame
    chart_png = browser.find_element(By.ID, "chart").screenshot_as_png
    assert sum(coloured_pixels(chart_png, colour) for colour in CANDLE_COLOURS) > 200, "no candles drawn"
    assert coloured_pixels(chart_png, MEDIAN_COLOUR) > 50, "no forecast median drawn"
    prediction = analyze(gateway, selected)
    for band, share in zip(("low", "medium", "high"), prediction.spectral_analysis.model_dump().values(), strict=True):
        shown_share = browser.find_element(By.ID, f"band-{band}").get_attribute("data-value")
        assert float(shown_share) == pytest.approx(share, abs=1e-6)
    assert browser.find_element(By.ID, "model-version").text == prediction.model_version
    assert_metrics_shown(browser, gateway)
    screenshot = tmp_path / "dashboard.png"
    browser.save_screenshot(str(screenshot))

    bar = next_bar(gateway, selected, prediction.current_price * 1.07)
    posted = httpx.post(f"{gateway.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200 and posted.json()["stored"] == 1, posted.text
    WebDriverWait(browser, PUSH_DEADLINE_S, poll_frequency=0.1).until(
        lambda d: rows(d)[selected]["price"] == str(bar["close"]))
    WebDriverWait(browser, PUSH_DEADLINE_S).until(
        lambda d: d.find_element(By.ID, "chart").get_attribute("data-last-date") == bar["date"])
    assert rows(browser)[selected]["date"] == bar["date"]
    assert console_errors(browser) == []
    if os.environ.get("WIG80_UPDATE_SCREENSHOT"):
        shutil.copy(screenshot, SCREENSHOT)  # WIG80_UPDATE_SCREENSHOT=1 refreshes docs/dashboard.png


def assert_metrics_shown(browser, gateway) -> None:
    """The served version's test metrics from GET /models, the model's row beside the baselines'."""
    active = httpx.get(f"{gateway.url}/models", timeout=30.0).json()["active"]
    wait = WebDriverWait(browser, LOAD_TIMEOUT_S)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#metrics-table tbody tr"))
    shown = {row.get_attribute("data-model"): [td.text for td in row.find_elements(By.TAG_NAME, "td")]
             for row in browser.find_elements(By.CSS_SELECTOR, "#metrics-table tbody tr")}
    assert {"mgdl", "random_walk", "always_up"} <= set(shown)
    assert shown["mgdl"][3] == f"{active['metrics_test']['mgdl']['mae']['h1']:.4f}"  # columns: name, dir h1/h5, MAE h1
    assert shown["random_walk"][3] == f"{active['metrics_test']['random_walk']['mae']['h1']:.4f}"
    assert f"version {active['version']}" in browser.find_element(By.ID, "model-metrics").text
    # the pooled 1-day VaR backtests and what the served network is made of, from the registry
    assert active["served_model"]["description"] in browser.find_element(By.ID, "model-metrics").text
    var_rows = [[td.text for td in row.find_elements(By.TAG_NAME, "td")]
                for row in browser.find_elements(By.CSS_SELECTOR, "#var-table tbody tr")]
    mgdl_99 = active["var_backtest_test"]["mgdl"]["99"]
    assert ["mgdl", "99%", f"{mgdl_99['exceptions']} / {mgdl_99['days']}"] in [r[:3] for r in var_rows]


def next_bar(gateway, symbol: str, close: float) -> dict:
    """A valid bar on the weekday after the symbol's last one, closing at `close`."""
    response = httpx.get(f"{gateway.url}/forecast/{symbol}", params={"history": 1}, timeout=30.0)
    last = ForecastPathResponse.model_validate(response.json())
    day = np.busday_offset(np.datetime64(last.last_date, "D"), 1, roll="forward")
    close = round(close, 2)
    return {"symbol": symbol, "date": str(day), "open": last.current_price, "high": round(close * 1.01, 2),
            "low": round(min(last.current_price, close) * 0.99, 2), "close": close, "volume": 50_000}


def test_dashboard_recovers_from_429_by_its_retry_after_and_shows_the_analogues(
    browser, start_gateway, stored_symbols, registry_serving
):
    # four requests a second: the page's four files pass, the API calls right after them are refused with
    # 429 and Retry-After, and the page must wait and ask again
    gateway = start_gateway(WIG80_RATE_LIMIT_BURST_PER_SECOND="4", **registry_serving.env)
    browser.get(f"{gateway.url}/")
    wait = WebDriverWait(browser, LOAD_TIMEOUT_S)
    wait.until(lambda d: len(rows(d)) == len(stored_symbols) and all(r["price"] for r in rows(d).values()))
    wait.until(lambda d: d.find_element(By.ID, "chart").get_attribute("data-last-date"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#analogues-table tbody tr[data-symbol]"))
    wait.until(lambda d: d.find_element(By.ID, "status").text == "historical")  # the store is marked so
    assert gateway.metric("rate_limited_requests_total") >= 1  # the page was refused, and recovered

    selected = browser.find_element(By.ID, "selected-symbol").text
    rag = httpx.post(f"{gateway.url}/analyze", json={"symbol": selected, "include_rag_context": True},
                     timeout=30.0).json()["rag_context"]
    shown = [[td.text for td in row.find_elements(By.TAG_NAME, "td")]
             for row in browser.find_elements(By.CSS_SELECTOR, "#analogues-table tbody tr[data-symbol]")]
    assert [row[:2] for row in shown] == [[a["symbol"], a["date"]] for a in rag["analogues"]]
    assert "historical data" in browser.find_element(By.ID, "data-status").text
    refused = [m for m in console_errors(browser) if "429" not in m]
    assert refused == []  # the only console errors are the refused loads themselves
