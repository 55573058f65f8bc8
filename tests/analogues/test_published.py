"""The index travels with the model version: built at export, uploaded into the version's registry record
(a real PocketBase), fetched and cached by a process that never sees the model repository."""

from __future__ import annotations

import numpy as np

from analogues.index import AnalogueIndex, sha256_of
from analogues.served import cache_dir, fetch_index_file, served_index
from lifecycle.publish import export_registered
from registry.records import version_record
from registry.schema import COLLECTIONS
from training.analogue_index import INDEX_FILE


def test_an_export_stores_registers_and_serves_its_index(tiny_run, tiny_index, pocketbase, tmp_path):
    repository = tmp_path / "repo"
    settings = tiny_run.settings(model_repository=repository)
    with pocketbase.client() as registry:
        registry.ensure_collections()
        result = export_registered(registry, tiny_run.run_dir, settings)
        record = version_record(registry, result.version)
        exported = repository / "wig80" / str(result.version) / INDEX_FILE
        facts = record["analogues"]
        assert facts["file"] == INDEX_FILE and facts["bytes"] == exported.stat().st_size
        assert facts["sha256"] == sha256_of(exported) and record["analogue_index"]
        index = AnalogueIndex.load(exported)
        assert (facts["rows"], facts["first_date"], facts["last_date"]) == (len(index), *index.date_range)
        # the export's index is the one the training report scored: same rows, same vectors
        assert index.header() | {"run": ""} == tiny_index.header() | {"run": ""}
        np.testing.assert_array_equal(index.vectors, tiny_index.vectors)

        home = tmp_path / "gateway-home"  # another machine: no repository, only the registry
        served = served_index(registry, result.version, home)
        cached = cache_dir(home) / f"{facts['sha256']}.npz"
        assert cached.is_file() and served.header() == index.header()
        queries = index.vectors[::50]
        dates = np.full(len(queries), np.datetime64("2100-01-01"))
        np.testing.assert_array_equal(served.search(queries, dates).rows, index.search(queries, dates).rows)

        cached.write_bytes(b"corrupt")  # a damaged cache is fetched again, never served
        assert fetch_index_file(registry, result.version, cache_dir(home)) == cached
        assert sha256_of(cached) == facts["sha256"]
        assert not list(cache_dir(home).glob(".*partial"))


def test_a_version_exported_without_an_index_serves_none(tiny_run, pocketbase, tmp_path):
    from feature_kernels import FEATURE_NAMES
    from training.checkpoint import write_untrained_run

    settings = tiny_run.settings(model_repository=tmp_path / "repo")
    run_dir = write_untrained_run(tmp_path / "random", list(FEATURE_NAMES), window=tiny_run.window).parent
    with pocketbase.client() as registry:
        registry.ensure_collections()
        result = export_registered(registry, run_dir, settings)
        record = version_record(registry, result.version)
        assert "untrained" in record["analogues"]["missing"] and not record["analogue_index"]
        assert served_index(registry, result.version, tmp_path / "gateway-home") is None


def test_a_registry_of_an_older_release_gets_the_new_fields(pocketbase):
    """ensure_collections adds the analogue fields to a model_versions collection made before them."""
    old = dict(COLLECTIONS["model_versions"])
    old["fields"] = [f for f in old["fields"] if f["name"] not in ("analogue_index", "analogues")]
    with pocketbase.client() as registry:
        registry._request("POST", "/api/collections", json={"name": "model_versions", "type": "base", **old})
        assert "model_versions" in registry.ensure_collections()
        fields = {f["name"] for f in registry._request("GET", "/api/collections/model_versions")["fields"]}
        assert {"analogue_index", "analogues", "version"} <= fields
        assert registry.ensure_collections() == []
