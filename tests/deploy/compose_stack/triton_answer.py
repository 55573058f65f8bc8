"""Run inside the lifecycle image on the compose network (`python - SYMBOL`): the last window of SYMBOL
from the bar store, sent straight to Triton's `wig80` model over gRPC; prints Triton's answer as JSON.
The compose test compares it with what /analyze answers through nginx for the same symbol."""

import asyncio
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient

from market_data.stores import open_store
from serving.contract import ENSEMBLE_MODEL, MEAN, OHLCV, STD, TritonAddress
from settings import Settings


async def last_window(settings: Settings, symbol: str, size: int):
    async with open_store(settings.market_db_url, settings.home) as store:
        return await store.last_bars(symbol, size)


def main(symbol: str) -> None:
    settings = Settings()
    client = grpcclient.InferenceServerClient(TritonAddress.from_settings(settings).grpc)
    size = int(client.get_model_metadata(ENSEMBLE_MODEL, as_json=True)["inputs"][0]["shape"][1])
    series = asyncio.run(last_window(settings, symbol, size))
    window = series.ohlcv.astype(np.float32)[None]
    request = grpcclient.InferInput(OHLCV, list(window.shape), "FP32")
    request.set_data_from_numpy(window)
    outputs = [grpcclient.InferRequestedOutput(name) for name in (MEAN, STD)]
    result = client.infer(ENSEMBLE_MODEL, [request], outputs=outputs)
    print(json.dumps({"date": str(series.dates[-1]), "close": float(series.close[-1]),
                      "mean": result.as_numpy(MEAN)[0].tolist(), "std": result.as_numpy(STD)[0].tolist()}))


if __name__ == "__main__":
    main(sys.argv[1])
