"""Real gateways (uvicorn processes) over the real Triton of the session, real Redis and an embedded store."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from market_data.importer import import_paths
from market_data.stores import open_store
from market_data.synthetic import synthesize
from tests.fixtures.registry import READER_EMAIL, READER_PASSWORD
from tests.fixtures.requirements import requirement_missing
from tests.fixtures.services import free_port
from tests.gateway.process import GatewayProcess

API_KEY = "test-gateway-key"
SYMBOL_COUNT, DAYS, SEED = 4, 400, 11
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "wig80"
REAL_SYMBOLS = ("ABE", "ACG")  # in the real stooq files and in every synthetic market (first sWIG80 tickers)
SEED_GUIDE_SYMBOLS = ("KGH", "PKN", "PKO")  # the seed guide's examples (WIG20 members)
UNLIMITED = {"WIG80_RATE_LIMIT_PER_MINUTE": "1000000", "WIG80_RATE_LIMIT_BURST_PER_SECOND": "1000000"}


@pytest.fixture(scope="session")
def triton_grpc(triton_server) -> str:
    return triton_server.grpc_url


@pytest.fixture(scope="session")
def bars_home(tmp_path_factory) -> Path:
    """A store of synthetic sWIG80 bars, long enough for the model's window; copied by tests that write."""
    home = tmp_path_factory.mktemp("gateway-home")

    async def fill() -> None:
        async with open_store(None, home) as store:
            await store.append_many(synthesize(SYMBOL_COUNT, DAYS, SEED))

    asyncio.run(fill())
    return home


@pytest.fixture(scope="session")
def real_bars_home(tmp_path_factory) -> Path:
    """A store with the real stooq files (REAL_SYMBOLS among them), imported as a new user would."""
    files = sorted((REAL_DATA / "stooq").glob("*.csv"))
    missing = [symbol for symbol in REAL_SYMBOLS if REAL_DATA / "stooq" / f"{symbol}.csv" not in files]
    if missing:
        requirement_missing(f"real market data not found in {REAL_DATA / 'stooq'}: {', '.join(missing)}")
    home = tmp_path_factory.mktemp("gateway-real-home")

    async def fill() -> None:
        async with open_store(None, home) as store:
            report = await import_paths(files, store)
            assert report.total("stored") > 0, report.issues()[:5]

    asyncio.run(fill())
    return home


@pytest.fixture(scope="session")
def seed_guide_home(tmp_path_factory) -> Path:
    """Synthetic bars under the seed guide's tickers, so its examples run verbatim."""
    home = tmp_path_factory.mktemp("gateway-seed-home")
    market = synthesize(len(SEED_GUIDE_SYMBOLS), DAYS, SEED)
    renamed = [dataclasses.replace(series, symbol=symbol) for series, symbol in zip(market, SEED_GUIDE_SYMBOLS,
                                                                                   strict=True)]

    async def fill() -> None:
        async with open_store(None, home) as store:
            await store.append_many(renamed)

    asyncio.run(fill())
    return home


@pytest.fixture(scope="session")
def stored_symbols(bars_home) -> list[str]:
    return [series.symbol for series in synthesize(SYMBOL_COUNT, 3, SEED)]


@pytest.fixture(scope="session")
def redis_prefix(redis_url) -> Iterator[str]:
    prefix = f"wig80test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*")) + list(client.scan_iter(f"*{prefix}*"))
    if keys:
        client.delete(*set(keys))
    client.close()


def gateway_env(home: Path, triton_grpc: str, redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {
        "WIG80_HOME": str(home), "TRITON_URL": triton_grpc, "REDIS_URL": redis_url or "",
        "MARKET_DB_URL": "", "WIG80_API_KEY": API_KEY, "WIG80_ENVIRONMENT": "development", **UNLIMITED,
        "WIG80_STORE_HISTORICAL": "true",  # the synthetic and stooq stores end in the past on purpose
    }
    return env | extra


@pytest.fixture(scope="session")
def gateway(bars_home, triton_grpc, redis_url, redis_prefix, tmp_path_factory) -> Iterator[GatewayProcess]:
    """The shared read-only gateway (tests that post bars start their own)."""
    log = tmp_path_factory.mktemp("gateway-logs") / "shared.log"
    with GatewayProcess(gateway_env(bars_home, triton_grpc, redis_url), f"{redis_prefix}-shared", log) as process:
        yield process


def _gateway_starter(source_home: Path, triton_grpc: str, redis_url: str, redis_prefix: str, tmp_path: Path):
    started: list[GatewayProcess] = []
    private_home = tmp_path / "home"
    shutil.copytree(source_home, private_home)
    test_prefix = f"{redis_prefix}-{uuid.uuid4().hex[:6]}"

    def start(home: Path | None = None, prefix: str | None = None, **env: str) -> GatewayProcess:
        settings = gateway_env(home or private_home, triton_grpc, redis_url) | env
        log = tmp_path / f"gateway-{len(started)}.log"
        process = GatewayProcess(settings, prefix or test_prefix, log).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def start_gateway(bars_home, triton_grpc, redis_url, redis_prefix, tmp_path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start gateways on a private copy of the store: start_gateway(home=None, prefix=None, **env)."""
    yield from _gateway_starter(bars_home, triton_grpc, redis_url, redis_prefix, tmp_path)


@pytest.fixture
def start_gateway_without_triton(bars_home, redis_url, redis_prefix, tmp_path) -> Iterator[Callable[..., GatewayProcess]]:
    """Like start_gateway, with nothing listening at the Triton address: for what a gateway does before
    any prediction (limits, identity, health), without waiting for the session's Triton."""
    yield from _gateway_starter(bars_home, f"127.0.0.1:{free_port()}", redis_url, redis_prefix, tmp_path)


@pytest.fixture
def registry_serving(pocketbase, triton_server):
    """A real PocketBase recording the served version with its run's metrics, as `wig80 serve` does."""
    from lifecycle.deploy import record_served

    with pocketbase.client() as registry:
        registry.ensure_collections()
        registry.ensure_reader(READER_EMAIL, READER_PASSWORD)  # the gateway's read-only account
        assert record_served(registry, triton_server.repository) is not None
    return pocketbase
