"""`wig80 replay`: feed stored history through POST /bars, day by day, to simulate a live session."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from collections import defaultdict
from pathlib import Path

import httpx
from tqdm import tqdm

from gateway.schemas import MAX_BARS_PER_POST
from market_data.bars import Bar
from market_data.stores import open_store
from settings import Settings

MAX_RETRIES_ON_429 = 10


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("replay", help="post stored bars to a running gateway's POST /bars, day by day")
    parser.add_argument("--url", help="gateway base URL (default http://API_HOST:API_PORT from settings)")
    parser.add_argument("--api-key", help="the gateway's API key (default WIG80_API_KEY)")
    parser.add_argument("--source-home", type=Path, help="embedded store to read from (default WIG80_HOME)")
    parser.add_argument("--source-url", help="PostgreSQL/QuestDB store to read from (default MARKET_DB_URL)")
    parser.add_argument("--symbols", help="comma-separated tickers (default: every stored symbol)")
    parser.add_argument("--start", type=dt.date.fromisoformat, help="first date to replay (YYYY-MM-DD)")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last date to replay (YYYY-MM-DD)")
    parser.add_argument("--speed", type=float, default=1.0, help="trading days per second; 0 = no pause")
    parser.set_defaults(handler=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    settings = Settings()
    url = (args.url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
    api_key = args.api_key or settings.api_key
    if not api_key:
        print("replay needs the gateway's API key: --api-key or WIG80_API_KEY")
        return 2
    if args.speed < 0:
        print(f"--speed must be >= 0, got {args.speed}")
        return 2
    source_url = args.source_url if args.source_url is not None else settings.market_db_url
    days = asyncio.run(_read_days(source_url, args.source_home or settings.home, args))
    if not days:
        print("nothing to replay: no stored bars in that range")
        return 1
    return _post_days(url, api_key, days, args.speed)


async def _read_days(source_url: str | None, home: Path, args: argparse.Namespace) -> list[list[Bar]]:
    async with open_store(source_url, home) as store:
        symbols = args.symbols.split(",") if args.symbols else sorted(await store.list_symbols())
        by_date: dict[dt.date, list[Bar]] = defaultdict(list)
        for symbol in symbols:
            for bar in (await store.read_range(symbol.strip().upper(), args.start, args.end)).bars():
                by_date[bar.date].append(bar)
    return [by_date[day] for day in sorted(by_date)]


def _post_days(url: str, api_key: str, days: list[list[Bar]], speed: float) -> int:
    pause = 1.0 / speed if speed > 0 else 0.0
    totals = {"stored": 0, "duplicates": 0}
    with httpx.Client(base_url=url, headers={"X-API-Key": api_key}, timeout=30.0) as client:
        for bars in tqdm(days, desc="replay", unit="day", disable=None):
            started = time.monotonic()
            for chunk in range(0, len(bars), MAX_BARS_PER_POST):
                response = _post(client, bars[chunk : chunk + MAX_BARS_PER_POST])
                if response.status_code != 200:
                    print(f"POST /bars for {bars[0].date} failed: {response.status_code} {response.text}")
                    return 1
                for key in totals:
                    totals[key] += response.json()[key]
            time.sleep(max(0.0, pause - (time.monotonic() - started)))
    print(f"replayed {len(days)} days: {totals['stored']} bars stored, {totals['duplicates']} already there")
    return 0


def _post(client: httpx.Client, bars: list[Bar]) -> httpx.Response:
    body = {"bars": [_bar_json(bar) for bar in bars]}
    for _ in range(MAX_RETRIES_ON_429):
        response = client.post("/bars", json=body)
        if response.status_code != 429:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def _bar_json(bar: Bar) -> dict:
    return {
        "symbol": bar.symbol, "date": bar.date.isoformat(), "open": bar.open, "high": bar.high,
        "low": bar.low, "close": bar.close, "volume": bar.volume,
    }
