"""HTTP API: app factory, authentication, problem+json errors, one router per domain."""

from renewflow.api.app import create_app

__all__ = ["create_app"]
