"""How a gateway process is started: the uvicorn options every launcher shares (`wig80 serve`, the image's
`python -m wig80.commands.gateway_worker`, the tests' gateways). Two are hardening, not tuning:
`ws_max_size` bounds one WebSocket message (a larger one closes the socket with 1009), and
`proxy_headers=False` stops uvicorn from rewriting the client address from X-Forwarded-For on its
own terms (it trusts 127.0.0.1 by default); the gateway decides whom to believe (WIG80_TRUSTED_PROXIES).
"""

from __future__ import annotations

from typing import Any

from settings import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.api_host,
        "port": settings.api_port,
        "workers": settings.api_workers,
        "access_log": settings.api_access_log,
        "ws_max_size": settings.websocket_max_message_bytes,
        "proxy_headers": False,
    }


def run(settings: Settings, app: Any, **overrides: Any) -> None:
    """Serve `app` (an ASGI app, or an import string as uvicorn's worker processes need) with the options."""
    import uvicorn

    uvicorn.run(app, **uvicorn_options(settings) | overrides)
