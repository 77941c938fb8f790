"""Database access: pools, tenant transactions, migrations and the embedded server."""

from renewflow.config import Settings
from renewflow.db.database import Connection, Database, connect
from renewflow.db.embedded import start_embedded
from renewflow.db.errors import (
    DatabaseConfigError,
    DatabaseError,
    DatabaseUnavailable,
    MigrationError,
)
from renewflow.db.migrator import Migration, MigrationState, Migrator
from renewflow.db.queries import load_queries
from renewflow.db.urls import APP_ROLE, SERVICE_ROLE, redact, validate_conninfo

__all__ = [
    "APP_ROLE",
    "SERVICE_ROLE",
    "Connection",
    "Database",
    "DatabaseConfigError",
    "DatabaseError",
    "DatabaseUnavailable",
    "Migration",
    "MigrationError",
    "MigrationState",
    "Migrator",
    "connect",
    "database_from_settings",
    "load_queries",
    "owner_conninfo",
    "redact",
    "start_embedded",
]


def owner_conninfo(settings: Settings) -> str:
    """The owner connection in use: DATABASE_URL if set, else the embedded server (started now)."""
    if settings.database_url:
        return validate_conninfo(settings.database_url)
    return start_embedded(settings.data_dir)


def database_from_settings(settings: Settings, conninfo: str | None = None) -> Database:
    return Database(
        conninfo or owner_conninfo(settings),
        app_password=settings.app_password,
        service_password=settings.service_password,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        service_max_size=settings.service_pool_max_size,
    )
