"""The registry a command talks to: POCKETBASE_URL, the embedded one `wig80 serve` runs, or one started now."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from registry.client import Registry
from registry.server import PocketBaseServer
from settings import Settings


def embedded_server(settings: Settings) -> PocketBaseServer:
    return PocketBaseServer(settings.pocketbase_dir, settings.pocketbase_host, settings.pocketbase_port,
                            settings.pocketbase_admin_email, settings.pocketbase_admin_password)


def connect(url: str, settings: Settings) -> Registry:
    return Registry(url, settings.pocketbase_admin_email, settings.pocketbase_admin_password)


def prepare(registry: Registry, settings: Settings) -> None:
    """The collections in place, and the gateway's read-only account with the configured password."""
    registry.ensure_collections()
    registry.ensure_reader(settings.pocketbase_reader_email, settings.pocketbase_reader_password)


@contextlib.contextmanager
def open_registry(settings: Settings) -> Iterator[Registry]:
    """A registry with its collections and reader account in place. Without POCKETBASE_URL and with nothing answering on the
    embedded port, the home's PocketBase is started for the duration of the command."""
    registry = connect(settings.registry_url, settings)
    server = None
    if not settings.pocketbase_url and not registry.healthy():
        server = embedded_server(settings).start().wait_ready()
    try:
        prepare(registry, settings)
        yield registry
    finally:
        registry.close()
        if server is not None:
            server.stop()
