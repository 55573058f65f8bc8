"""Triton's explicit model control, in dependency order: a version's label switches only when all its parts are ready.

`load_in_order` loads the composing models first and checks that each has `version` READY before it
loads the `wig80` ensemble, whose config pins its steps to that same version. Triton keeps the loaded
versions answering until a load completes, so a client sees the old version, then the new one, never
the new label over the old numbers. A failed step raises before the ensemble is touched: the old
version keeps serving.
"""

from __future__ import annotations

from collections.abc import Iterable

from serving.contract import ENSEMBLE_MODEL, LOAD_ORDER, TritonAddress, admin_headers


class ModelControlError(RuntimeError):
    """A load failed or a part of the version did not come up; the previously loaded version still serves."""


def load_in_order(
    address: TritonAddress,
    admin_key: str,
    version: int | None = None,
    models: Iterable[str] = LOAD_ORDER,
    timeout: float = 300.0,
) -> None:
    """Load the versions the repository's configs name, `models` in order, over Triton's HTTP model control
    (with the admin header); with `version`, each must have it READY before the next. The one loader:
    `wig80 serve`'s promotions and rollbacks (lifecycle.deploy) and the tests all go through it."""
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    headers = admin_headers(admin_key, "http")
    client = httpclient.InferenceServerClient(address.http, network_timeout=timeout)
    try:
        for name in models:
            try:
                client.load_model(name, headers=headers)
            except InferenceServerException as error:
                raise ModelControlError(f"loading {name} into Triton at {address.http}: {error.message()}") from error
            if version is not None and not client.is_model_ready(name, str(version), headers=headers):
                raise ModelControlError(
                    f"{name} version {version} is not ready in Triton at {address.http} after its load; "
                    f"{ENSEMBLE_MODEL} was not switched"
                )
    finally:
        client.close()
