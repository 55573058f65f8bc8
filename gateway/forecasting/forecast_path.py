"""GET /forecast/{symbol}: recent bars and the predicted price distribution at every horizon (the dashboard's fan).

Plain arithmetic on the model's (mu_h, sigma_h) of the forward log return: the price at horizon h is
log-normal, so its quantiles are price * exp(mu_h + z * sigma_h).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from gateway.forecasting.analysis import AnalysisService, ticker_of
from gateway.forecasting.predictions import prediction_interval
from gateway.forecasting.triton_client import TritonUnavailable
from gateway.schemas import ForecastPathResponse, ForecastPoint, HistoryBar
from market_data.calendar import trading_calendar


async def forecast_path(analysis: AnalysisService, symbol: str, history: int) -> ForecastPathResponse:
    """From the hot state: the held forecast and the symbol's last `history` bars ending with the window it
    was made from (held beyond the window once read), so a repeated request reads no store and asks Triton
    nothing, and the bars and the fan always belong to one snapshot."""
    ticker = ticker_of(symbol)
    held, series = await analysis.forecast_with_history(ticker, history)
    forecast = held.forecast
    mean, std = forecast.mean.astype(np.float64), forecast.std.astype(np.float64)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
        raise TritonUnavailable("the model returned a non-finite forecast")
    last_date = series.dates[-1].astype(dt.date)
    price = float(series.close[-1])
    return ForecastPathResponse(
        symbol=ticker, model_version=forecast.model_version, last_date=last_date, current_price=price,
        bars=[HistoryBar(date=bar.date, open=bar.open, high=bar.high, low=bar.low, close=bar.close,
                         volume=bar.volume) for bar in series.bars()],
        path=price_path(price, last_date, mean, std),
    )


def price_path(price: float, last_date: dt.date, mean: np.ndarray, std: np.ndarray) -> list[ForecastPoint]:
    """One point per horizon 1..len(mean), dated by the next XWAR sessions after `last_date`: median, mean
    and the 50%/95% central intervals of the price."""
    dates = trading_calendar().next_sessions(last_date, len(mean))
    points = []
    for h, (mu, sigma) in enumerate(zip(mean, std, strict=True)):
        band_50, band_95 = prediction_interval(price, mu, sigma, 0.5), prediction_interval(price, mu, sigma, 0.95)
        points.append(ForecastPoint(
            horizon=h + 1, date=dates[h], median=price * np.exp(mu),
            mean=price * np.exp(mu + sigma**2 / 2), lower_50=band_50.lower, upper_50=band_50.upper,
            lower_95=band_95.lower, upper_95=band_95.upper,
        ))
    return points
