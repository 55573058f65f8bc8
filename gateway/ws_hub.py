"""WS /ws/realtime: per-connection subscriptions, periodic pushes and immediate pushes on new bars.

Each connection has a bounded outgoing queue; when a slow client lets it fill up, the oldest update is
dropped, so one slow client never delays another (each has its own sender task).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging

from fastapi import WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from gateway import metrics
from gateway.analysis import AnalysisService, SymbolNotFound, ticker_of
from gateway.models import AnalysisRequest, WebSocketError, WebSocketPrediction, WebSocketSubscription
from gateway.rate_limit import MessageRateLimiter
from gateway.triton_client import TritonRejected, TritonUnavailable

log = logging.getLogger(__name__)

_connection_ids = itertools.count(1)


class Connection:
    def __init__(self, websocket: WebSocket, queue_size: int) -> None:
        self.id = f"ws-{next(_connection_ids)}"
        self.websocket = websocket
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.subscription: WebSocketSubscription | None = None
        self.tickers: tuple[str, ...] = ()
        self.new_bar_tickers: set[str] = set()
        self.wake = asyncio.Event()

    def send(self, message: WebSocketPrediction | WebSocketError) -> None:
        """Queue a message; when the queue is full, drop the oldest one to make room."""
        if self.outbox.full():
            self.outbox.get_nowait()
            metrics.WEBSOCKET_DROPPED.inc()
        self.outbox.put_nowait(message.model_dump_json())


class RealtimeHub:
    def __init__(self, analysis: AnalysisService, queue_size: int, messages_per_second: int) -> None:
        self.analysis = analysis
        self.queue_size = queue_size
        self.message_limiter = MessageRateLimiter(messages_per_second)
        self.connections: set[Connection] = set()

    async def on_new_bar(self, symbol: str, last_date: str) -> None:
        for connection in self.connections:
            if symbol in connection.tickers:
                connection.new_bar_tickers.add(symbol)
                connection.wake.set()

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        connection = Connection(websocket, self.queue_size)
        self.connections.add(connection)
        metrics.WEBSOCKET_CONNECTIONS.set(len(self.connections))
        tasks = [asyncio.create_task(self._send_loop(connection)), asyncio.create_task(self._push_loop(connection))]
        try:
            await self._receive_loop(connection)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.connections.discard(connection)
            metrics.WEBSOCKET_CONNECTIONS.set(len(self.connections))

    async def _receive_loop(self, connection: Connection) -> None:
        while True:
            try:
                message = await connection.websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            if not await self.message_limiter.allow(connection.id):
                detail = f"too many messages: at most {self.message_limiter.per_second} per second; ignored"
                connection.send(WebSocketError(detail=detail))
                continue
            await self._subscribe(connection, message.get("text"))

    async def _subscribe(self, connection: Connection, text: str | None) -> None:
        try:
            subscription = WebSocketSubscription.model_validate(json.loads(text or "null"))
        except (json.JSONDecodeError, ValidationError) as error:
            connection.send(WebSocketError(detail=f"invalid subscription: {_reason(error)}"))
            return
        tickers = tuple(dict.fromkeys(ticker_of(symbol) for symbol in subscription.symbols))
        unknown = [t for t in tickers if len(await self.analysis.windows.get(t)) == 0]
        if unknown:
            connection.send(WebSocketError(detail=f"invalid subscription: no bars for {', '.join(unknown)}"))
            return
        connection.subscription, connection.tickers = subscription, tickers
        connection.new_bar_tickers.clear()
        connection.wake.set()  # a new subscription gets its first predictions at once

    async def _push_loop(self, connection: Connection) -> None:
        while True:
            subscription = connection.subscription
            timeout = subscription.update_frequency if subscription else None
            woke = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connection.wake.wait(), timeout)
                woke = True
            connection.wake.clear()
            if connection.subscription is None:
                continue
            if woke and connection.new_bar_tickers and connection.subscription is subscription:
                tickers, connection.new_bar_tickers = tuple(connection.new_bar_tickers), set()
            else:
                tickers = connection.tickers
            for ticker in tickers:
                connection.send(await self._prediction_message(ticker, connection.subscription))

    async def _prediction_message(self, ticker: str, subscription: WebSocketSubscription):
        request = AnalysisRequest(symbol=ticker, include_spectral=subscription.include_spectral)
        try:
            with metrics.PREDICTION_DURATION.labels(endpoint="websocket").time():
                prediction, source = await self.analysis.analyze(request)
        except (SymbolNotFound, TritonUnavailable, TritonRejected) as error:
            return WebSocketError(symbol=ticker, detail=str(error))
        metrics.PREDICTIONS_TOTAL.labels(endpoint="websocket", source=source).inc()
        return WebSocketPrediction(symbol=ticker, data=prediction)

    async def _send_loop(self, connection: Connection) -> None:
        while True:
            text = await connection.outbox.get()
            await connection.websocket.send_text(text)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in error.errors())
    return str(error)
