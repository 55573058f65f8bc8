"""The registry's collections, created by code at start (a migration step, never a manual UI setup).

Runs and versions are referred to by their names and numbers (text and number fields), which the
admin UI filters on directly; the unique indexes keep a run or a version from being registered twice.
"""

from __future__ import annotations


def _text(name: str, required: bool = False) -> dict:
    return {"name": name, "type": "text", "required": required}


def _number(name: str, required: bool = False) -> dict:
    return {"name": name, "type": "number", "required": required}


def _json(name: str) -> dict:
    return {"name": name, "type": "json", "maxSize": 5_000_000}


def _date(name: str) -> dict:
    return {"name": name, "type": "date"}


def _file(name: str, max_bytes: int) -> dict:
    # protected: downloading needs a file token of an authorised session (the gateway's reader)
    return {"name": name, "type": "file", "maxSelect": 1, "maxSize": max_bytes, "protected": True}


ANALOGUE_INDEX_MAX_BYTES = 1 << 30  # the full profile's index over 80 symbols x 6000 days is ~150 MB


CREATED = {"name": "created", "type": "autodate", "onCreate": True, "onUpdate": False}

# The gateway's account: an auth collection whose records may list and view what GET /models and the
# analogue index read (runs, versions, deployments) and nothing else: no write, no evaluations, no
# superuser. Only a superuser (the lifecycle, `wig80 serve`) creates its one record (Registry.ensure_reader).
READERS = "registry_readers"
READER_ONLY = f'@request.auth.collectionName = "{READERS}"'
NOBODY = {"listRule": None, "viewRule": None, "createRule": None, "updateRule": None, "deleteRule": None}
READ_BY_READERS = NOBODY | {"listRule": READER_ONLY, "viewRule": READER_ONLY}
READER_ACCOUNTS = NOBODY  # a reader sees no account, not even its own record; it only logs in

COLLECTIONS: dict[str, dict] = {
    "training_runs": {
        "fields": [
            _text("run", required=True), _text("experiment"), _text("profile"), _json("config"),
            _json("data_range"), _json("split"), _json("symbols"), _json("metrics_val"), _json("metrics_test"),
            _text("artifact_path"), _date("trained_at"), CREATED,
            # added later: `ensure_collections` adds them to a registry created before
            _json("var_backtest_test"), _json("served_model"),
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_training_runs_run ON training_runs (run)"],
        **READ_BY_READERS,
    },
    "model_versions": {
        "fields": [
            _number("version", required=True), _text("run", required=True), _text("target"),
            _text("onnx_sha256"), _json("parity"), _date("exported_at"), _text("repository"), CREATED,
            # the historical-analogue index built at export (analogues/): the file, and what it holds
            _file("analogue_index", ANALOGUE_INDEX_MAX_BYTES), _json("analogues"),
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_model_versions_version ON model_versions (version)"],
        **READ_BY_READERS,
    },
    "deployments": {
        "fields": [
            # sequence orders the history (created has millisecond ties); the active version is the last to_version
            _number("sequence", required=True), _number("from_version"), _number("to_version", required=True),
            {"name": "reason", "type": "select", "required": True, "maxSelect": 1,
             "values": ["initial", "promoted", "rollback", "manual"]},
            _text("note"), CREATED,
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_deployments_sequence ON deployments (sequence)"],
        **READ_BY_READERS,
    },
    "evaluations": {
        "fields": [
            _number("champion_version"), _text("champion_run"), _text("challenger_run"), _json("rows"),
            _json("champion_metrics"), _json("challenger_metrics"),
            {"name": "decision", "type": "select", "required": True, "maxSelect": 1,
             "values": ["promoted", "rejected", "failed"]},
            _text("reason"), _text("error"), _number("promoted_version"), CREATED,
        ],
        "indexes": [],
        **NOBODY,
    },
}
