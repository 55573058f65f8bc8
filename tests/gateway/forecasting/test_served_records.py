"""What GET /models serves, over a real PocketBase read by the reader account: read once per served version,
read again on a new version (and soon while the registry lags Triton), kept when the registry fails."""

from __future__ import annotations

import pytest

from gateway.forecasting.served_records import ServedRecords
from registry.client import RegistryError
from registry.records import record_deployment
from tests.fixtures.registry import READER_EMAIL, READER_PASSWORD


@pytest.fixture
def registry_with_two_versions(pocketbase):
    with pocketbase.client() as registry:
        registry.ensure_collections()
        registry.ensure_reader(READER_EMAIL, READER_PASSWORD)
        for version in (1, 2):
            registry.create("model_versions", {"version": version, "run": f"run-{version}"})
        record_deployment(registry, 1, "initial")
    return pocketbase


async def test_records_are_read_once_per_served_version(registry_with_two_versions):
    records = ServedRecords(registry_with_two_versions.reader())
    try:
        for _ in range(10):
            assert (await records.get("1")).version["version"] == 1
        assert records.reads == 1
        with registry_with_two_versions.client() as registry:
            record_deployment(registry, 2, "promoted")
        assert (await records.get("2")).version["version"] == 2  # a new served version: read again
        assert records.reads == 2 and [d["to_version"] for d in records.model.history] == [2, 1]
    finally:
        records.close()


async def test_records_behind_triton_are_read_again_after_the_retry_time(registry_with_two_versions):
    records = ServedRecords(registry_with_two_versions.reader(), retry_s=0.0)
    try:
        assert (await records.get("2")).version["version"] == 1  # Triton serves 2, the record is not written yet
        with registry_with_two_versions.client() as registry:
            record_deployment(registry, 2, "promoted")
        assert (await records.get("2")).version["version"] == 2
        assert (await records.get("2")).version["version"] == 2 and records.reads == 2  # settled: held
    finally:
        records.close()


async def test_a_failing_registry_keeps_the_records_read_and_without_any_raises(registry_with_two_versions):
    records = ServedRecords(registry_with_two_versions.reader(), refresh_s=0.0)
    try:
        assert (await records.get("1")).version["version"] == 1
        registry_with_two_versions.server.stop()
        assert (await records.get("1")).version["version"] == 1  # read again, failed: the held ones
        assert isinstance(records.failure, RegistryError)
        fresh = ServedRecords(registry_with_two_versions.reader())
        with pytest.raises(RegistryError, match="unreachable"):
            await fresh.get("1")
        fresh.close()
    finally:
        records.close()
