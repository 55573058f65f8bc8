"""One forecast per (symbol, window of bars, model version): made once, kept, shared by every response.

The window is named by a fingerprint of its bars, so a bar corrected or backfilled before the last date
makes a new forecast, not only a new last bar.

The model answers all horizons in one pass and the bars change once a day, so `/analyze`,
`/batch_analyze`, `/forecast`, `/spectrum` and the WebSocket pushes (any horizon, threshold,
`include_spectral`) all derive their answer from the `HeldForecast` of the symbol's current window: the
model's `SymbolForecast` with what every answer takes from it whatever the request. `ForecastBook.get_many` looks in this
process's memory, then in Redis (another replica may have made it), and sends what is still missing to
Triton in one request; concurrent requests for a forecast being made wait for that one call
(single-flight) instead of making their own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gateway.forecasting.cache import MEMORY_CACHE_ENTRIES, MemoryCache, RedisCache, forecast_key
from gateway.forecasting.predictions import WindowFacts, window_facts
from gateway.forecasting.triton_client import ModelInfo, TritonClient
from gateway.schemas import RagContext
from market_data.bars import BarSeries, window_fingerprint

# made_at (POSIX s), horizons, features, band shares, label bytes; then the label (UTF-8) and float32 arrays
_HEADER = struct.Struct("<dHHHH")
SPECTRA_PER_FORECAST = 8  # lengths of /spectrum kept per held forecast (a client choosing `days` cannot grow it)
RESPONSES_PER_FORECAST = 256  # /analyze bodies kept per held forecast (30 horizons x 3 directions x spectral or not)


@dataclass(frozen=True)
class SymbolForecast:
    """The model's answer for one window: the distribution per horizon and what it was computed from."""

    mean: np.ndarray  # (H,) forward log return per horizon 1..H
    std: np.ndarray  # (H,)
    features: np.ndarray  # (F,) the feature vector, in the features model's order
    band_shares: np.ndarray  # (3,)
    made_at: dt.datetime
    model_version: str  # the label of the version that made it ("<run>/v<N>")

    def to_bytes(self) -> bytes:
        label = self.model_version.encode()
        header = _HEADER.pack(
            self.made_at.timestamp(), len(self.mean), len(self.features), len(self.band_shares), len(label)
        )
        body = np.concatenate([self.mean, self.std, self.features, self.band_shares]).astype("<f4")
        return header + label + body.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> SymbolForecast:
        made_at, horizons, features, shares, label_length = _HEADER.unpack_from(data)
        label = data[_HEADER.size : _HEADER.size + label_length].decode()
        body = np.frombuffer(data, dtype="<f4", offset=_HEADER.size + label_length).astype(np.float32)
        cuts = np.cumsum([horizons, horizons, features, shares])
        if cuts[-1] != len(body):
            raise ValueError(f"a stored forecast has {len(body)} values, its header says {cuts[-1]}")
        mean, std, vector, band_shares, _ = np.split(body, cuts)
        return cls(mean, std, vector, band_shares, dt.datetime.fromtimestamp(made_at, dt.UTC), label)

    def __post_init__(self) -> None:
        usable = np.isfinite(self.mean) & np.isfinite(self.std) & bool(np.all(np.isfinite(self.band_shares)))
        object.__setattr__(self, "_usable", usable.tolist())

    def horizon(self, h: int) -> tuple[float, float]:
        """(mu, sigma) of horizon h (1-based)."""
        return float(self.mean[h - 1]), float(self.std[h - 1])

    def is_finite(self, h: int) -> bool:
        """Whether horizon h's mean and std, and the band shares, are finite numbers."""
        return self._usable[h - 1]


class HeldForecast:
    """A forecast as this process holds it: the model's answer, the window it was made from, and what every
    answer derives from that pair whatever the request: the facts of a response (derived on first use, then
    kept), the spectral features of the symbol's last bars by length (`/spectrum`, a few lengths kept) and
    the window's historical analogues (`include_rag_context`, kept by `AnalogueContexts.attach`) and the
    /analyze bodies made from it (`responses`: everything of a body but its processing time, by what the
    body depends on; they go when the forecast goes)."""

    def __init__(self, forecast: SymbolForecast, window: BarSeries, feature_names: tuple[str, ...]) -> None:
        self.forecast = forecast
        self.window = window
        self.feature_names = feature_names
        self.spectra: dict[int, np.ndarray] = {}  # bars analysed -> the features model's FEATURES of them
        self.analogues: RagContext | None = None  # by the index of the version that made the forecast
        self._facts: WindowFacts | None = None
        self.responses: dict[tuple, tuple[bytes, bytes]] = {}  # -> (body before processing_time_ms, after)

    def facts(self) -> WindowFacts:
        """The horizon-free parts of a response; TritonUnavailable when the model's features are unusable."""
        if self._facts is None:
            self._facts = window_facts(self.window, self.forecast.features, self.feature_names,
                                       self.forecast.band_shares)
        return self._facts

    def keep_response(self, key: tuple, parts: tuple[bytes, bytes]) -> None:
        if len(self.responses) >= RESPONSES_PER_FORECAST:
            del self.responses[next(iter(self.responses))]
        self.responses[key] = parts

    def keep_spectrum(self, bars: int, features: np.ndarray) -> None:
        if len(self.spectra) >= SPECTRA_PER_FORECAST:
            del self.spectra[next(iter(self.spectra))]
        self.spectra[bars] = features


class ForecastBook:
    def __init__(self, triton: TritonClient, shared: RedisCache | None, prefix: str) -> None:
        self.triton = triton
        self.shared = shared
        self.prefix = prefix
        self.memory: MemoryCache[HeldForecast] = MemoryCache()
        self._in_flight: dict[str, asyncio.Future[HeldForecast]] = {}
        self._keys: dict[tuple[int, str], tuple[BarSeries, str]] = {}  # (id(window), version) -> key

    def key(self, series: BarSeries, info: ModelInfo) -> str:
        """What the forecast of `series` by `info`'s version is made from: the bars the model reads (hashed
        once per held window object and version: the warm request path)."""
        memo = self._keys.get((id(series), info.model_version))
        if memo is not None and memo[0] is series:
            return memo[1]
        key = forecast_key(self.prefix, series.symbol, str(series.dates[-1]), info.model_version,
                           window_fingerprint(series.tail(info.window)))
        if len(self._keys) >= MEMORY_CACHE_ENTRIES:
            self._keys.clear()
        self._keys[(id(series), info.model_version)] = (series, key)  # holding `series` keeps its id unique
        return key

    def held(self, series: BarSeries, info: ModelInfo) -> HeldForecast | None:
        """The forecast of this window if this process has it (no await: the warm request path)."""
        return self.memory.get(self.key(series, info))

    async def get_many(self, windows: Sequence[BarSeries], info: ModelInfo) -> tuple[list[HeldForecast], int]:
        """The forecast of each window (memory, Redis, else one Triton request for all still missing), and
        how many of them waited on Triton (made by this call or by a concurrent one)."""
        keys = [self.key(series, info) for series in windows]
        found: dict[str, HeldForecast] = {}
        for key in keys:
            held = self.memory.get(key)
            if held is not None:
                found[key] = held
        unheld = {k: s for k, s in zip(keys, windows, strict=True) if k not in found and k not in self._in_flight}
        await self._from_shared(unheld, info, found)
        for key in keys:  # made by another request while Redis answered
            if key not in found and (held := self.memory.get(key)) is not None:
                found[key] = held
        waiting = {k: self._in_flight[k] for k in keys if k not in found and k in self._in_flight}
        missing = {k: s for k, s in zip(keys, windows, strict=True) if k not in found and k not in waiting}
        if missing:
            await self._make(missing, info, found)
        for key, future in waiting.items():
            found[key] = await asyncio.shield(future)
        return [found[key] for key in keys], len(missing) + len(waiting)

    async def _from_shared(self, unheld: dict[str, BarSeries], info: ModelInfo, found: dict[str, HeldForecast]) -> None:
        if self.shared is None or not unheld:
            return
        for (key, series), data in zip(unheld.items(), await self.shared.get_many(list(unheld)), strict=True):
            if data is not None:
                found[key] = HeldForecast(SymbolForecast.from_bytes(data), series, info.feature_names)
                self.memory.set(key, found[key])

    async def _make(self, missing: dict[str, BarSeries], info: ModelInfo, found: dict[str, HeldForecast]) -> None:
        futures = {key: asyncio.get_running_loop().create_future() for key in missing}
        self._in_flight.update(futures)
        try:
            windows = np.stack([series.ohlcv[-info.window:] for series in missing.values()])
            result = await self.triton.forecast(windows, info)
            maker = result.info or info  # another version, should `info`'s have been unloaded meanwhile
            made_at = dt.datetime.now(dt.UTC)
            made = {
                key: HeldForecast(SymbolForecast(result.mean[i], result.std[i], result.features[i],
                                                 result.band_shares[i], made_at, maker.model_version),
                                  series, maker.feature_names)
                for i, (key, series) in enumerate(missing.items())
            }
        except BaseException as error:
            for future in futures.values():
                future.set_exception(error)
                future.exception()  # retrieved here: waiters re-raise it, nobody else has to
            raise
        finally:
            for key in futures:
                self._in_flight.pop(key, None)
        # kept under the maker's key: a forecast is only ever found under the version that made it
        kept = {self.key(series, maker): made[key] for key, series in missing.items()}
        for key, held in kept.items():
            self.memory.set(key, held)
        for key, held in made.items():
            futures[key].set_result(held)
        found.update(made)
        if self.shared is not None:
            await self.shared.set_many({key: held.forecast.to_bytes() for key, held in kept.items()})
