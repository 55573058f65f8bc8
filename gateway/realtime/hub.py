"""WS /ws/realtime: per-connection subscriptions, periodic pushes and immediate pushes on new bars.

Each connection has a bounded outgoing queue; when a slow client lets it fill up, the oldest update is
dropped, so one slow client never delays another (each has its own sender task).

Bounded clients (gateway.realtime.limits): connections per address and per process, a subscription budget,
and a message limit keyed by the client, not the connection. A failed update is reported on the socket
and the loop goes on; after MAX_CONSECUTIVE_PUSH_FAILURES in a row, or when a connection's sender or
pusher dies, the socket is closed with 1011: never left open and silent.

An idle connection (nothing received from the client, nothing pushed to it, for the limits'
idle_timeout_s) is closed with CLOSE_IDLE (4408) and the reason, so a client that opens sockets and
stays silent does not hold the per-address and total slots; a subscription's pushes keep it open
(its update_frequency is added to the allowance).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time

from fastapi import WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from gateway import metrics
from gateway.client_identity import ClientIdentity
from gateway.forecasting.analysis import AnalysisService, SymbolNotFound, ticker_of
from gateway.forecasting.triton_client import TritonRejected, TritonUnavailable
from gateway.realtime.limits import ConnectionLimits, ConnectionSlots, MessageRateLimiter
from gateway.redaction import without_addresses
from gateway.schemas import AnalysisRequest, WebSocketError, WebSocketPrediction, WebSocketSubscription

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_PUSH_FAILURES = 5
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_INTERNAL_ERROR = 1011
CLOSE_IDLE = 4408  # an application code (4000-4999), after HTTP 408 Request Timeout

_connection_ids = itertools.count(1)


class Connection:
    def __init__(self, websocket: WebSocket, queue_size: int, client: str = "") -> None:
        self.id = f"ws-{next(_connection_ids)}"
        self.client = client or self.id  # the message limit's key: the client's identity
        self.websocket = websocket
        self.outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.subscription: WebSocketSubscription | None = None
        self.tickers: tuple[str, ...] = ()
        self.new_bar_tickers: set[str] = set()
        self.wake = asyncio.Event()
        self.last_activity = time.monotonic()  # a message received or sent

    def idle_for(self) -> float:
        return time.monotonic() - self.last_activity

    def send(self, message: WebSocketPrediction | WebSocketError) -> None:
        """Queue a message; when the queue is full, drop the oldest one to make room."""
        if self.outbox.full():
            self.outbox.get_nowait()
            metrics.WEBSOCKET_DROPPED.inc()
        self.outbox.put_nowait(message.model_dump_json())


class RealtimeHub:
    def __init__(
        self, analysis: AnalysisService, queue_size: int, messages_per_second: int,
        limits: ConnectionLimits | None = None, identity: ClientIdentity | None = None,
        redact_errors: bool = False,
    ) -> None:
        self.analysis = analysis
        self.queue_size = queue_size
        self.message_limiter = MessageRateLimiter(messages_per_second)
        self.connections: set[Connection] = set()
        self.limits = limits or ConnectionLimits()
        self.slots = ConnectionSlots(self.limits)
        self.identity = identity or ClientIdentity((), None)
        self.redact_errors = redact_errors

    async def on_new_bar(self, symbol: str, last_date: str) -> None:
        for connection in self.connections:
            if symbol in connection.tickers:
                connection.new_bar_tickers.add(symbol)
                connection.wake.set()

    async def serve(self, websocket: WebSocket) -> None:
        address = self.identity.address(websocket.scope)
        await websocket.accept()  # accepted first, so that a refusal can carry its reason
        refusal = self.slots.take(address)
        if refusal is not None:
            metrics.WEBSOCKET_REFUSED.labels(reason="connections").inc()
            await websocket.close(CLOSE_TRY_AGAIN_LATER, refusal)
            return
        connection = Connection(websocket, self.queue_size, self.identity.key(websocket.scope))
        self.connections.add(connection)
        metrics.WEBSOCKET_CONNECTIONS.set(len(self.connections))
        try:
            await self._run(connection)
        finally:
            self.slots.release(address)
            self.connections.discard(connection)
            metrics.WEBSOCKET_CONNECTIONS.set(len(self.connections))

    async def _run(self, connection: Connection) -> None:
        """Until the client leaves; if the sender or the pusher dies first, close the socket with 1011."""
        receiver = asyncio.create_task(self._receive_loop(connection))
        idle = asyncio.create_task(self._until_idle(connection))
        workers = [asyncio.create_task(self._send_loop(connection)), asyncio.create_task(self._push_loop(connection))]
        try:
            await asyncio.wait([receiver, idle, *workers], return_when=asyncio.FIRST_COMPLETED)
            if idle.done() and not receiver.done():
                timeout = self.limits.idle_timeout_s
                log.info("WebSocket %s: idle for %g s; closing with %d", connection.id, timeout, CLOSE_IDLE)
                with contextlib.suppress(Exception):
                    await connection.websocket.close(
                        CLOSE_IDLE, f"idle timeout: nothing sent or pushed for {timeout:g} s; reconnect to go on")
            elif not receiver.done():
                failed = next(task for task in workers if task.done())
                error = failed.exception() if not failed.cancelled() else None
                log.error("WebSocket %s: %s stopped (%r); closing with 1011", connection.id, failed.get_name(), error)
                with contextlib.suppress(Exception):
                    await connection.websocket.close(CLOSE_INTERNAL_ERROR, "server error: updates stopped")
        finally:
            for task in (receiver, idle, *workers):
                task.cancel()
            for task in (receiver, idle, *workers):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _receive_loop(self, connection: Connection) -> None:
        while True:
            try:
                message = await connection.websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            connection.last_activity = time.monotonic()
            if not await self.message_limiter.allow(connection.client):
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
        over_budget = self.limits.subscription_refusal(len(tickers), subscription.update_frequency)
        if over_budget:
            connection.send(WebSocketError(detail=over_budget))
            return
        try:
            unknown = [t for t in tickers if len(await self.analysis.windows.get(t)) == 0]
        except Exception as error:  # the store failed: say so, keep the connection and the old subscription
            log.warning("WebSocket %s: subscription check failed: %r", connection.id, error)
            connection.send(WebSocketError(detail=f"subscription not checked: {self._public(error)}; retry"))
            return
        if unknown:
            connection.send(WebSocketError(detail=f"invalid subscription: no bars for {', '.join(unknown)}"))
            return
        connection.subscription, connection.tickers = subscription, tickers
        connection.new_bar_tickers.clear()
        connection.wake.set()  # a new subscription gets its first predictions at once

    async def _push_loop(self, connection: Connection) -> None:
        """Every failed update is reported on the socket as an error for its symbol; when every update of
        MAX_CONSECUTIVE_PUSH_FAILURES rounds in a row failed, the loop gives up (and `_run` closes 1011)."""
        failed_rounds = 0
        while True:
            subscription, tickers = await self._due_updates(connection)
            failed = 0
            for ticker in tickers:
                try:
                    message = await self._prediction_message(ticker, subscription)
                except Exception as error:  # a store, driver or cache fault: report it, keep the socket
                    failed += 1
                    metrics.WEBSOCKET_PUSH_ERRORS.inc()
                    log.warning("WebSocket %s: update of %s failed: %r", connection.id, ticker, error)
                    message = WebSocketError(symbol=ticker, detail=f"update failed: {self._public(error)}")
                connection.send(message)
            failed_rounds = failed_rounds + 1 if tickers and failed == len(tickers) else 0
            if failed_rounds >= MAX_CONSECUTIVE_PUSH_FAILURES:
                raise RuntimeError(f"{failed_rounds} rounds of updates failed in a row")

    async def _due_updates(self, connection: Connection) -> tuple[WebSocketSubscription, tuple[str, ...]]:
        """Wait for the next update time or a new bar; the subscription and the symbols then due."""
        while True:
            subscription = connection.subscription
            timeout = subscription.update_frequency if subscription else None
            woke = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connection.wake.wait(), timeout)
                woke = True
            connection.wake.clear()
            current = connection.subscription
            if current is None:
                continue
            if woke and connection.new_bar_tickers and current is subscription:
                tickers, connection.new_bar_tickers = tuple(connection.new_bar_tickers), set()
                return current, tickers
            return current, connection.tickers

    def _public(self, error: Exception) -> str:
        text = f"{type(error).__name__}: {error}"
        return without_addresses(text) if self.redact_errors else text

    async def _prediction_message(self, ticker: str, subscription: WebSocketSubscription):
        request = AnalysisRequest(symbol=ticker, include_spectral=subscription.include_spectral)
        try:
            with metrics.PREDICTION_DURATION.labels(endpoint="websocket").time():
                prediction, source = await self.analysis.analyze(request)
        except (SymbolNotFound, TritonUnavailable, TritonRejected) as error:
            return WebSocketError(symbol=ticker, detail=without_addresses(str(error)) if self.redact_errors else str(error))
        metrics.PREDICTIONS_TOTAL.labels(endpoint="websocket", source=source).inc()
        return WebSocketPrediction(symbol=ticker, data=prediction)

    async def _send_loop(self, connection: Connection) -> None:
        while True:
            text = await connection.outbox.get()
            await connection.websocket.send_text(text)
            connection.last_activity = time.monotonic()

    async def _until_idle(self, connection: Connection) -> None:
        """Returns once the connection has been idle for the limits' idle_timeout_s (plus its subscription's
        update_frequency, so that pushes slower than the timeout still keep it open)."""
        while (left := self._idle_allowance(connection) - connection.idle_for()) > 0:
            await asyncio.sleep(left)

    def _idle_allowance(self, connection: Connection) -> float:
        subscription = connection.subscription
        return self.limits.idle_timeout_s + (subscription.update_frequency if subscription else 0.0)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in error.errors())
    return str(error)
