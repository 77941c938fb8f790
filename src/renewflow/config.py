"""Settings from the environment (and CLI flags, which override them)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from renewflow.errors import InvalidInputError


def default_data_dir() -> Path:
    """Per-user directory for the embedded PostgreSQL and other local state."""
    return Path(platformdirs.user_data_dir("renewflow"))


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseSettings):
    """Everything renewflow reads from its environment.

    `DATABASE_URL` (no prefix, as most platforms set it) selects an external PostgreSQL; without it
    renewflow starts its embedded server in `data_dir`.
    """

    model_config = SettingsConfigDict(env_prefix="RENEWFLOW_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default_factory=default_data_dir)
    # Passwords for the two login roles the migrations create; not needed where the server trusts the
    # connection (the embedded server's socket, a trust-configured local server).
    app_password: str | None = None
    service_password: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # HTTP processes of `renewflow serve`; its background worker runs once, whatever the number.
    http_processes: int = Field(default=1, ge=1)
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    # The service role's pool (the worker's claims and finishes, jobs across tenants); by default
    # half of pool_max_size, at least 4.
    service_pool_max_size: int | None = Field(default=None, ge=1, le=1000)
    log_level: LogLevel = "info"
    # Threads serving synchronous routes in each HTTP process. A step request waits for its LLM
    # call in one of them (holding no database connection), so this bounds the concurrent
    # synchronous step requests a process answers; other requests are never queued behind them.
    http_threads: int = Field(default=200, ge=8, le=4096)
    # LLM calls of one tenant's step runs in flight at once, across every process; the rest wait
    # in the queue (visible as `queued` runs).
    tenant_llm_concurrency: int = Field(default=50, ge=1, le=10_000)
    # LLM calls from one process to one provider endpoint at once.
    provider_llm_concurrency: int = Field(default=100, ge=1, le=10_000)
    # A step run's lease, renewed while its call runs; after a crash the step is resumable once
    # it has passed.
    step_lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    # Runner threads of a worker for asynchronous step runs (each waits on one LLM call).
    step_workers: int = Field(default=50, ge=1, le=1000)
    # Runner threads of a worker for agent task steps. Each waits on its step's LLM call (with
    # no connection held): raise it for a slow provider; with the in-process mock, threads past
    # four only queue for the interpreter (run more worker processes instead).
    agent_workers: int = Field(default=4, ge=0, le=1000)

    # The continuous-intelligence cron endpoint's bearer secret (the spec's CRON_SECRET is read
    # too), and the previous one, still accepted while callers move to the new one. Without a
    # secret the endpoint refuses every call (503): it is never open.
    cron_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("RENEWFLOW_CRON_SECRET", "CRON_SECRET")
    )
    cron_secret_previous: SecretStr | None = None
    # How long a cron call that finds the slot's run under way waits for its result (then it
    # answers with the run still running).
    cron_wait_seconds: float = Field(default=30.0, ge=0.0, le=600.0)
    # Whether the worker runs the continuous-intelligence agent every 30 minutes (the cron
    # endpoint works either way).
    intelligence_agent: bool = True
    # What the worker's 30-minute pass does: customers per tenant, and tenants.
    intelligence_batch_size: int = Field(default=25, ge=1, le=10_000)
    intelligence_max_workspaces: int = Field(default=50, ge=1, le=100_000)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("pool_max_size")
    @classmethod
    def _at_least_the_minimum(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("pool_min_size")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least RENEWFLOW_POOL_MIN_SIZE ({minimum})")
        return value


def load_settings(**overrides: object) -> Settings:
    """Reads the environment, then applies explicit overrides (CLI flags) that are not None.

    A bad value is an InvalidInputError naming the environment variable it came from."""
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        variable = (
            name if name.isupper() else f"{Settings.model_config['env_prefix']}{name.upper()}"
        )
        raise InvalidInputError(variable, first["msg"]) from None
    values = {key: value for key, value in overrides.items() if value is not None}
    return settings.model_copy(update=values) if values else settings
