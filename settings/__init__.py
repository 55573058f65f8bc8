"""The one typed configuration of the `wig80` CLI and the gateway, read from the environment and `.env`.

The ground floor of the house: every package may import it, it imports none of them. Only the entry
points (`wig80.commands`) read it from the environment, once; everything below receives a `Settings` as an
argument, changed where needed with `settings.model_copy(update=...)`, never by editing `os.environ`.

The service URLs keep their conventional names (`WIG80_HOME`, `MARKET_DB_URL`, `REDIS_URL`,
`TRITON_URL`, `POCKETBASE_URL`); every other setting is `WIG80_<FIELD>` (for example `WIG80_API_PORT=9090`).
An unset URL means the embedded default: the file store, the in-process cache and limiter, the
`tritonserver` started by the project itself.

Production (`WIG80_ENVIRONMENT=production`) refuses the unsafe defaults: secrets missing, short (under
32 characters) or the development ones, a Redis URL without a password, QuestDB's stock credentials,
trusted-proxy ranges wider than a /16 (IPv4) or a /64 (IPv6). Each workload (`WIG80_WORKLOAD`) needs
its own secrets and refuses the others' (`SECRETS_BY_WORKLOAD`): the gateway holds no Triton admin key. The gateway workload runs without
the Triton admin key; model control (the lifecycle commands, the embedded Triton of `wig80 serve`) refuses
to run without it, naming it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_TRITON_ADMIN_KEY = "wig80-development-only"
MIN_SECRET_LENGTH = 32
QUESTDB_DEFAULT_PASSWORD = "quest"
DEVELOPMENT_POCKETBASE_PASSWORD = "wig80-development-only"
DEVELOPMENT_POCKETBASE_READER_PASSWORD = "wig80-development-only-reader"

# Who may say who the client is (X-Forwarded-For): in production no range wider than one pod network
# (IPv4 /16) or one IPv6 subnet (/64, a node's pod range: list several nodes' ranges one by one)
MIN_TRUSTED_PREFIX = {4: 16, 6: 64}

# The secrets each process uses (production refuses the others, so a leaked pod holds only its own):
# "all" is `wig80 serve` on one host (Triton, the registry and the gateway in one process tree).
Workload = Literal["all", "gateway", "lifecycle"]
SECRETS_BY_WORKLOAD: dict[str, frozenset[str]] = {
    # the gateway: POST /bars, and the registry's read-only account for GET /models and the analogue
    # index; never Triton's model control, never the registry's superuser
    "gateway": frozenset({"WIG80_API_KEY", "WIG80_POCKETBASE_READER_PASSWORD"}),
    # retrain, export, rollback: Triton's model control and the registry's superuser, which (re)sets the
    # reader's password to the one given here (registry.client.Registry.ensure_reader); no client API
    "lifecycle": frozenset({"WIG80_TRITON_ADMIN_KEY", "WIG80_POCKETBASE_ADMIN_PASSWORD",
                            "WIG80_POCKETBASE_READER_PASSWORD"}),
    "all": frozenset({"WIG80_API_KEY", "WIG80_TRITON_ADMIN_KEY", "WIG80_POCKETBASE_ADMIN_PASSWORD",
                      "WIG80_POCKETBASE_READER_PASSWORD"}),
}
SECRET_FIELDS = {"WIG80_API_KEY": "api_key", "WIG80_TRITON_ADMIN_KEY": "triton_admin_key",
                 "WIG80_POCKETBASE_ADMIN_PASSWORD": "pocketbase_admin_password",
                 "WIG80_POCKETBASE_READER_PASSWORD": "pocketbase_reader_password"}
DEVELOPMENT_SECRETS = {DEVELOPMENT_TRITON_ADMIN_KEY, DEVELOPMENT_POCKETBASE_PASSWORD,
                       DEVELOPMENT_POCKETBASE_READER_PASSWORD}


def too_wide_to_trust(proxy: str) -> bool:
    """Whether a trusted-proxy entry spans more than one pod network (see MIN_TRUSTED_PREFIX).

    An IPv4-mapped IPv6 range (::ffff:a.b.c.d/n) is judged as the IPv4 range it maps.
    """
    network = ipaddress.ip_network(proxy, strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None:
        return network.prefixlen - 96 < MIN_TRUSTED_PREFIX[4]
    return network.prefixlen < MIN_TRUSTED_PREFIX[network.version]


def _url(name: str) -> Field:
    return Field(default=None, validation_alias=AliasChoices(name, f"WIG80_{name}"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WIG80_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    workload: Workload = Field("all", description="what this process runs: all (wig80 serve), gateway, "
                               "lifecycle (retrain, export, rollback); production checks its secrets")
    home: Path = Field(default=Path("var"), validation_alias=AliasChoices("WIG80_HOME"))
    market_db_url: str | None = _url("MARKET_DB_URL")
    redis_url: str | None = _url("REDIS_URL")
    triton_url: str | None = _url("TRITON_URL")
    pocketbase_url: str | None = _url("POCKETBASE_URL")

    # training
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(256, ge=1)
    epochs: int = Field(100, ge=1)
    patience: int = Field(10, ge=1)
    window: int = Field(256, ge=64, description="bars per sample window")

    # serving: Triton
    triton_host: str = "127.0.0.1"
    triton_http_port: int = 8000
    triton_grpc_port: int = 8001
    triton_metrics_port: int = 8002
    triton_admin_key: str | None = Field(
        None, description="key of Triton's restricted APIs (model control); unset: the development key "
        "(in production, model control refuses to run)")
    triton_http: bool = Field(False, description="the embedded Triton's HTTP endpoint (off: gRPC only)")
    triton_listen: str | None = Field(
        None, description="the address the embedded Triton binds beyond loopback, e.g. 0.0.0.0 in a container "
        "(`wig80 serve --triton-listen`); unset: WIG80_TRITON_HOST, which must be a loopback address")
    max_batch_size: int = Field(32, ge=1)
    max_queue_delay_microseconds: int = Field(500, ge=0)
    model_repository: Path | None = Field(
        None, description="the repository Triton serves (default: WIG80_HOME/model_repository)"
    )

    # registry: the embedded PocketBase (unless POCKETBASE_URL names one)
    pocketbase_host: str = "127.0.0.1"
    pocketbase_port: int = 8090
    pocketbase_admin_email: str = "admin@wig80.local"
    pocketbase_admin_password: str = DEVELOPMENT_POCKETBASE_PASSWORD
    pocketbase_reader_email: str = Field("gateway@wig80.local", description="the registry's read-only account "
                                         "(the gateway's): created by the lifecycle and `wig80 serve`")
    pocketbase_reader_password: str = DEVELOPMENT_POCKETBASE_READER_PASSWORD

    # retraining: champion and challenger scored on the same most recent rows that neither trained on
    retrain_eval_days: int = Field(60, ge=5, description="trading days of the most recent samples scored")
    retrain_purge_days: int = Field(30, ge=0, description="trading days between the challenger's training rows "
                                    "and the scored ones, so no training target reaches into them")
    retrain_accuracy_tolerance: float = Field(
        0.01, ge=0, le=1, description="how much lower directional accuracy a promoted challenger may have"
    )
    retrain_max_p_value: float = Field(
        0.10, ge=0, le=1, description="a challenger is promoted only when its lower NLL is significant: the "
        "Diebold-Mariano p-value of the daily NLL differential must be below this"
    )
    retrain_profile: Literal["tiny", "quick", "full"] | None = Field(
        None, description="the challenger's training profile (default: the champion's, else quick)"
    )

    # serving: gateway
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_workers: int = Field(1, ge=1)
    api_access_log: bool = True
    api_key: str | None = None
    cache_ttl_seconds: int = Field(300, ge=0)
    prediction_interval_level: float = Field(0.8, gt=0, lt=1, description="level of prediction_interval")
    stale_after_trading_days: int = Field(
        5, ge=0, description="a forecast is stale when its last bar lags the store's newest bar by more XWAR "
        "sessions than this")
    store_stale_after_sessions: int = Field(
        5, ge=0, description="every forecast is stale when the store's newest bar lags the exchange's last "
        "closed XWAR session by more sessions than this (the feed stopped); off when store_historical")
    store_historical: bool = Field(
        False, description="the store holds past data on purpose: no staleness against the calendar, answers "
        "and the dashboard say `historical`")
    change_poll_seconds: float = Field(
        2.0, gt=0, le=60, description="the gateway reads the store's change feed at least this often")
    rate_limit_per_minute: int = Field(100, ge=1)
    rate_limit_burst_per_second: int = Field(20, ge=1)
    websocket_messages_per_second: int = Field(5, ge=1)
    websocket_queue_size: int = Field(32, ge=1)

    # serving: gateway hardening (what one client may cost; who is a client)
    max_request_body_bytes: int = Field(1_000_000, ge=1024, description="larger bodies get 413 before parsing")
    request_body_timeout_seconds: float = Field(
        10.0, gt=0, description="a body not received within this gets 408 and its connection closed")
    websocket_max_message_bytes: int = Field(64 * 1024, ge=1024, description="uvicorn's ws_max_size")
    websocket_max_connections: int = Field(1000, ge=1, description="open WebSockets per gateway process")
    websocket_max_connections_per_client: int = Field(8, ge=1, description="per client address, per process")
    websocket_idle_timeout_s: float = Field(
        300.0, gt=0, description="a WebSocket that sent nothing and was sent nothing (no subscription pushes) "
        "for this long is closed (4408), freeing its slot")
    websocket_max_symbol_updates_per_second: float = Field(
        5.0, gt=0, description="a subscription's budget: len(symbols) / update_frequency"
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated addresses or CIDRs whose X-Forwarded-For is believed"
    )
    api_docs: bool | None = Field(None, description="/docs, /redoc, /openapi.json; default: off in production")
    supervisor_state_file: Path | None = Field(
        None, description="set by `wig80 serve`: its children's state, which the gateway's readiness reports")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: list[str]) -> list[str]:
        for proxy in value:
            ipaddress.ip_network(proxy, strict=False)  # ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production" and (problems := self.unsafe_for_production()):
            raise ValueError("WIG80_ENVIRONMENT=production refuses: " + "; ".join(problems))
        return self

    def unsafe_for_production(self) -> list[str]:
        problems = self._secret_problems()
        if self.redis_url and not urlsplit(self.redis_url).password:
            problems.append("REDIS_URL must carry a password (redis://:PASSWORD@host:port/db)")
        if self.market_db_url and urlsplit(self.market_db_url).password == QUESTDB_DEFAULT_PASSWORD:
            problems.append("MARKET_DB_URL must not use QuestDB's default password")
        too_wide = [proxy for proxy in self.trusted_proxies if too_wide_to_trust(proxy)]
        if too_wide:
            problems.append(
                f"WIG80_TRUSTED_PROXIES={','.join(too_wide)} trusts X-Forwarded-For from too many addresses "
                f"(wider than /{MIN_TRUSTED_PREFIX[4]} for IPv4, /{MIN_TRUSTED_PREFIX[6]} for IPv6): "
                "name the proxies' addresses or their pod network"
            )
        return problems

    def _secret_problems(self) -> list[str]:
        """This workload's secrets set, long and not the development ones; no other workload's secret."""
        needed = SECRETS_BY_WORKLOAD[self.workload]
        problems = []
        for name, field in SECRET_FIELDS.items():
            value = getattr(self, field)
            given = field in self.model_fields_set
            if name not in needed:
                if given:
                    problems.append(f"{name} is not used by the {self.workload} workload: do not give it one")
            elif not given or not value or value in DEVELOPMENT_SECRETS or len(value) < MIN_SECRET_LENGTH:
                problems.append(f"{name} must be set to a secret of at least {MIN_SECRET_LENGTH} characters")
        return problems

    @property
    def triton_model_control_key(self) -> str:
        """The admin key of Triton's restricted APIs: the setting, else (outside production) the development key."""
        if self.triton_admin_key:
            return self.triton_admin_key
        if self.environment == "production":
            raise ValueError("WIG80_TRITON_ADMIN_KEY is not set: Triton's model control needs it in production")
        return DEVELOPMENT_TRITON_ADMIN_KEY

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def registry_url(self) -> str:
        """POCKETBASE_URL, or the embedded PocketBase's address."""
        return self.pocketbase_url or f"http://{self.pocketbase_host}:{self.pocketbase_port}"

    @property
    def pocketbase_dir(self) -> Path:
        return self.home / "pocketbase"

    @property
    def repository_dir(self) -> Path:
        """The Triton model repository of this home: rendered configs and version folders (build output)."""
        return self.model_repository or self.home / "model_repository"

    def as_environment(self) -> dict[str, str]:
        """These settings as the environment variables that reproduce them (unset ones left out), for a child
        process that reads its own: uvicorn's worker processes, a scheduled `wig80 retrain`.

        A secret left at its default is left out too: the child gets the same default, and production
        refuses a secret given to a workload that does not use it (the gateway's workers would not start).
        """
        environment = {}
        secrets_given = set(SECRET_FIELDS.values()) & self.model_fields_set
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None or name in SECRET_FIELDS.values() and name not in secrets_given:
                continue
            alias = field.validation_alias
            variable = alias.choices[0] if isinstance(alias, AliasChoices) else f"WIG80_{name.upper()}"
            if isinstance(value, bool):
                environment[variable] = "true" if value else "false"
            elif isinstance(value, list):
                environment[variable] = ",".join(value)
            else:
                environment[variable] = str(value)
        return environment
