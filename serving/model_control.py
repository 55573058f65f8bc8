"""Triton's explicit model control, in dependency order: a version's label switches only when all its parts are ready.

`load_in_order` loads the composing models first and checks that each has `version` READY before it
loads the `wig80` ensemble, whose config pins its steps to that same version. Triton keeps the loaded
versions answering until a load completes, so a client sees the old version, then the new one, never
the new label over the old numbers. A failed step raises before the ensemble is touched: the old
version keeps serving.

Model control goes over gRPC (the embedded Triton's HTTP is off unless asked) and needs the admin
header (`Settings.triton_admin_headers("grpc")`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

MODELS = ("features", "mgdl", "wig80")  # load order: an ensemble after the models it composes
ENSEMBLE = "wig80"


class ModelControlError(RuntimeError):
    """A load failed or a part of the version did not come up; the previously loaded version still serves."""


def load_in_order(
    grpc_address: str,
    version: int | None = None,
    models: Iterable[str] = MODELS,
    headers: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> None:
    """Load `models` from the repository in order; with `version`, each must have it READY before the next."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(grpc_address)
    try:
        for name in models:
            try:
                client.load_model(name, headers=dict(headers or {}), client_timeout=timeout)
                ready = version is None or client.is_model_ready(name, str(version), client_timeout=timeout)
            except InferenceServerException as error:
                raise ModelControlError(f"loading {name} into Triton at {grpc_address}: {error.message()}") from error
            if not ready:
                raise ModelControlError(
                    f"{name} version {version} is not ready in Triton at {grpc_address} after its load; "
                    f"{ENSEMBLE} was not switched"
                )
    finally:
        client.close()
