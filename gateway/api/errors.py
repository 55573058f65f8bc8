"""How failures become HTTP answers: always a status that says whose fault it is, and a reason."""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gateway.forecasting.analysis import InvalidRequest, SymbolNotFound
from gateway.forecasting.triton_client import TritonRejected, TritonUnavailable
from gateway.redaction import without_addresses
from gateway.schemas import ErrorResponse

log = logging.getLogger(__name__)

COMMON_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorResponse, "description": "invalid input: unparseable JSON, or a field missing, unknown or "
                                                 "out of range (the reason names it)"},
    429: {"model": ErrorResponse, "description": "rate limit exceeded; see Retry-After"},
}
ERROR_RESPONSES: dict[int | str, dict] = {
    404: {"model": ErrorResponse, "description": "unknown symbol or not enough bars stored"},
    503: {"model": ErrorResponse, "description": "Triton or the bar store is unavailable"},
}


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _production(request: Request) -> bool:
    """Production error bodies carry no internal address and no driver message (both are logged)."""
    return getattr(request.app.state, "redact_errors", False)


async def _not_found(request: Request, error: Exception) -> JSONResponse:
    return _error(404, str(error))


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    return _error(400, str(error))


def validation_reason(error: RequestValidationError) -> str:
    """Every failed check in one line: `body.prediction_horizon: Input should be less than or equal to 30`."""
    reasons = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        message = item.get("msg", "invalid")
        if item.get("type") == "json_invalid":
            message = f"not valid JSON ({item.get('ctx', {}).get('error', 'unparseable')})"
        elif item.get("type", "").endswith("_type") and "input" in item:
            message = f"{message}, not {_json_type(item['input'])}"  # strict types: say what was sent instead
        reasons.append(f"{where}: {message}" if where else message)
    return "; ".join(reasons) or "invalid request"


def _json_type(value: object) -> str:
    names = {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "an array",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


async def _validation_failed(request: Request, error: Exception) -> JSONResponse:
    return _error(400, validation_reason(error))


async def _rejected(request: Request, error: Exception) -> JSONResponse:
    reason = without_addresses(str(error)) if _production(request) else str(error)
    return _error(400, f"the model refused the input: {reason}")


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    if _production(request):
        log.warning("Triton failed on %s: %s", request.url.path, error)
        return _error(503, without_addresses(str(error)))
    return _error(503, str(error))


async def _store_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.warning("bar store failed on %s: %s", request.url.path, error)
    if _production(request):
        return _error(503, "bar store unavailable")
    return _error(503, f"bar store unavailable: {type(error).__name__}: {error}")


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    if _production(request):
        return _error(500, "internal error (logged by the gateway)")
    return _error(500, f"internal error: {type(error).__name__}: {error}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SymbolNotFound, _not_found)
    app.add_exception_handler(InvalidRequest, _invalid)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(TritonRejected, _rejected)
    app.add_exception_handler(TritonUnavailable, _unavailable)
    app.add_exception_handler(OSError, _store_unavailable)
    app.add_exception_handler(sqlite3.Error, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)


def without_validation_422(schema: dict) -> dict:
    """The OpenAPI schema without FastAPI's automatic 422 answers: invalid input is 400 here."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    return schema
