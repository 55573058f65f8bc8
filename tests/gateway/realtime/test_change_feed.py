"""The gateway follows the store's change feed: a `wig80 data import` run while gateways serve reaches
/analyze, /forecast and the WebSocket of every replica within 5 s, on the embedded store and on
PostgreSQL. The CLI publishes nothing on Redis, so no pub/sub message ever announces these bars; and a
bar backfilled before the last date makes a new forecast."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets

from gateway.schemas import ForecastPathResponse, PredictionResponse, WebSocketPrediction
from market_data.bars import CLOSE, BarSeries
from market_data.stores import open_store
from market_data.stores.sync import run_sync
from market_data.synthetic import synthesize
from tests.gateway.conftest import DAYS, SEED, SYMBOL_COUNT
from tests.gateway.forecasting.test_model_version import expected_price

pytestmark = [pytest.mark.triton, pytest.mark.redis]
DEADLINE_S = 5.0
NEXT_SESSION = "2026-01-02"  # the first XWAR session after the synthetic history (2025-12-31; 1 January is none)
WIG80 = Path(sys.executable).with_name("wig80")


def analyze(gateway, symbol: str) -> PredictionResponse:
    response = httpx.post(f"{gateway.url}/analyze", json={"symbol": symbol, "prediction_horizon": 5}, timeout=30.0)
    assert response.status_code == 200, response.text
    return PredictionResponse.model_validate(response.json())


def forecast(gateway, symbol: str, history: int) -> ForecastPathResponse:
    response = httpx.get(f"{gateway.url}/forecast/{symbol}", params={"history": history}, timeout=30.0)
    assert response.status_code == 200, response.text
    return ForecastPathResponse.model_validate(response.json())


def poll(read, done, deadline: float):
    """`read()` until `done(value)` or the monotonic `deadline` passes; the last value."""
    while not done(value := read()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def cli_import(folder: Path, env: dict[str, str]) -> None:
    """`wig80 data import` in its own process, as an operator runs it beside `wig80 serve`."""
    done = subprocess.run([str(WIG80), "data", "import", "--strict", str(folder)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def stooq_file(folder: Path, symbol: str, rows: list[tuple[str, float]]) -> Path:
    """A stooq (Polish) daily file of `rows` (date, close), with open/high/low around the close."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["Data;Otwarcie;Najwyzszy;Najnizszy;Zamkniecie;Wolumen"]
    lines += [f"{day};{close:.4f};{close * 1.01:.4f};{close * 0.99:.4f};{close:.4f};12345" for day, close in rows]
    path = folder / f"{symbol}.csv"
    path.write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request, bars_home, tmp_path) -> dict[str, str]:
    """The environment of a store holding the gateway tests' synthetic market: a private embedded copy, or a
    PostgreSQL table of its own (dropped afterwards)."""
    home = tmp_path / "store-home"
    if request.param == "embedded":
        import shutil

        shutil.copytree(bars_home, home)
        yield {"WIG80_HOME": str(home), "MARKET_DB_URL": ""}
        return
    url = f"{request.getfixturevalue('postgres_url')}?table=wig80_feed_{uuid.uuid4().hex[:10]}"

    async def fill() -> None:
        async with open_store(url, home) as store:
            await store.append_many(synthesize(SYMBOL_COUNT, DAYS, SEED))

    run_sync(fill())
    yield {"WIG80_HOME": str(home), "MARKET_DB_URL": url}

    async def drop() -> None:
        async with open_store(url, home) as store:
            await store.drop_table()

    run_sync(drop())


async def first_prediction(ws) -> WebSocketPrediction:
    return WebSocketPrediction.model_validate(json.loads(await asyncio.wait_for(ws.recv(), 30.0)))


async def test_a_cli_import_reaches_every_replica_within_5_s_without_any_announcement(
    start_gateway, stored_symbols, store_env, redis_prefix
):
    prefix = f"{redis_prefix}-feed-{uuid.uuid4().hex[:6]}"
    replicas = [start_gateway(prefix=prefix, WIG80_CHANGE_POLL_SECONDS="2", **store_env) for _ in range(2)]
    symbol = stored_symbols[1]
    before = analyze(replicas[0], symbol)
    assert [analyze(r, symbol).data_as_of.isoformat() for r in replicas] == ["2025-12-31"] * 2
    close = round(before.current_price * 1.013, 4)
    async with websockets.connect(replicas[1].ws_url) as ws:
        await ws.send(json.dumps({"symbols": [symbol], "update_frequency": 3600}))
        assert (await first_prediction(ws)).data.current_price == before.current_price

        env = {**replicas[0].env, **store_env}
        await asyncio.to_thread(cli_import, stooq_file(Path(store_env["WIG80_HOME"]) / "new", symbol,
                                                       [(NEXT_SESSION, close)]), env)
        deadline = time.monotonic() + DEADLINE_S
        pushed = await asyncio.wait_for(first_prediction(ws), max(deadline - time.monotonic(), 0.1))
    assert pushed.data.current_price == close and str(pushed.data.data_as_of) == NEXT_SESSION
    for replica in replicas:
        answer = poll(lambda r=replica: analyze(r, symbol), lambda a: a.current_price == close, deadline)
        assert answer.current_price == close and str(answer.data_as_of) == NEXT_SESSION, replica.log_tail()
        fan = poll(lambda r=replica: forecast(r, symbol, 300), lambda f: str(f.last_date) == NEXT_SESSION, deadline)
        assert str(fan.last_date) == NEXT_SESSION and fan.bars[-1].close == close
        assert fan.path[0].date.isoformat() == "2026-01-05"  # the fan's first date: the next XWAR session
    assert time.monotonic() <= deadline + 1.0  # every replica answered with the new bar by the deadline


def test_a_backfilled_bar_before_the_last_date_makes_a_new_forecast(start_gateway, triton_server, tmp_path):
    market = synthesize(SYMBOL_COUNT, DAYS, SEED)
    symbol, missing = market[0].symbol, len(market[0]) - 10  # a bar inside the model's window
    holey = np.ones(len(market[0]), dtype=bool)
    holey[missing] = False
    home = tmp_path / "holey"

    async def fill() -> None:
        async with open_store(None, home) as store:
            await store.append_many([dataclasses.replace(market[0], dates=market[0].dates[holey],
                                                         ohlcv=market[0].ohlcv[holey]), *market[1:]])

    run_sync(fill())
    gateway = start_gateway(home=home, REDIS_URL="")
    before = analyze(gateway, symbol)
    day, close = str(market[0].dates[missing]), float(market[0].ohlcv[missing, CLOSE])
    cli_import(stooq_file(tmp_path / "backfill", symbol, [(day, close)]), {**gateway.env, "WIG80_HOME": str(home)})

    after = poll(lambda: analyze(gateway, symbol), lambda a: a.timestamp != before.timestamp,
                 time.monotonic() + DEADLINE_S)
    assert after.timestamp > before.timestamp and after.data_as_of == before.data_as_of
    window = run_sync(_last_bars(home, symbol, triton_server.window))
    assert str(window.dates[-10]) == day  # the window the new forecast must be made from
    assert after.predicted_price == pytest.approx(expected_price(triton_server.repository, 1, window.ohlcv, 5),
                                                  rel=1e-5)
    assert after.predicted_price != pytest.approx(before.predicted_price, rel=1e-9)
    fan = forecast(gateway, symbol, 300)  # beyond the window: the store's bars, with the backfilled one
    assert day in {str(bar.date) for bar in fan.bars}


async def _last_bars(home: Path, symbol: str, n: int) -> BarSeries:
    async with open_store(None, home) as store:
        return await store.last_bars(symbol, n)


def test_a_replica_whose_pub_sub_is_down_gets_a_posted_bar_from_the_feed(start_gateway, stored_symbols):
    from tests.fixtures.services import free_port
    from tests.gateway.conftest import API_KEY

    poster = start_gateway()
    deaf = start_gateway(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # its subscriber never connects
    symbol = stored_symbols[3]
    close = round(analyze(deaf, symbol).current_price * 0.987, 4)
    bar = {"symbol": symbol, "date": NEXT_SESSION, "open": close, "high": close * 1.01, "low": close * 0.99,
           "close": close, "volume": 5000.0}
    posted = httpx.post(f"{poster.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200 and posted.json()["stored"] == 1, posted.text
    assert analyze(poster, symbol).current_price == close  # the posting replica, before it answered
    answer = poll(lambda: analyze(deaf, symbol), lambda a: a.current_price == close, time.monotonic() + DEADLINE_S)
    assert answer.current_price == close and str(answer.data_as_of) == NEXT_SESSION, deaf.log_tail()
