"""`wig80 replay`: stored history posted day by day through POST /bars of a running gateway."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]


def replay(gateway, source_home, *args: str) -> subprocess.CompletedProcess:
    """The replay's result; its output piped, as to a log file: lines only, no progress bar."""
    command = [sys.executable, "-m", "wig80.cli", "replay", "--url", gateway.url, "--api-key", API_KEY,
               "--source-home", str(source_home), *args]
    result = subprocess.run(command, capture_output=True, timeout=120)
    assert b"\r" not in result.stdout + result.stderr  # bytes: text mode would turn \r into \n
    result.stdout, result.stderr = result.stdout.decode(), result.stderr.decode()
    return result


def test_replay_posts_the_chosen_range_once(start_gateway, bars_home, stored_symbols, tmp_path):
    empty_home = tmp_path / "empty"
    gateway = start_gateway(home=empty_home)
    result = replay(gateway, bars_home, "--symbols", ",".join(stored_symbols[:2]), "--start", "2025-12-22",
                    "--speed", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    symbols = {s["symbol"]: s for s in httpx.get(f"{gateway.url}/symbols", timeout=30.0).json()["symbols"]}
    for ticker in stored_symbols[:2]:
        assert symbols[ticker]["first_date"] >= "2025-12-22" and symbols[ticker]["last_date"] == "2025-12-31"
    assert not symbols[stored_symbols[2]]["data_available"]
    stored = sum(symbols[t]["bars"] for t in stored_symbols[:2])
    assert f"{stored} bars stored, 0 already there" in result.stdout

    again = replay(gateway, bars_home, "--symbols", ",".join(stored_symbols[:2]), "--start", "2025-12-22",
                   "--speed", "0")
    assert again.returncode == 0 and f"0 bars stored, {stored} already there" in again.stdout


def test_replay_without_api_key_refuses(start_gateway, bars_home):
    gateway = start_gateway()
    command = [sys.executable, "-m", "wig80.cli", "replay", "--url", gateway.url, "--source-home", str(bars_home)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "WIG80_API_KEY": ""})
    assert result.returncode == 2 and "API key" in result.stdout
