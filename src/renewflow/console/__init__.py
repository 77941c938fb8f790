"""The web console: server-rendered pages (Jinja2) with htmx for partial updates, on the same
domain packages as the API. No build step: htmx is vendored here, pinned and checksummed.

`install(app)` mounts it: `/static/...` and the pages outside `/api`. The pages are
cookie-authenticated (see `renewflow.console.web`); the API stays bearer-only.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from renewflow.console import views

# Vendored browser libraries: file, version, SHA-256 (a test recomputes them).
VENDORED = {
    "htmx-2.0.11.min.js": (
        "htmx.org 2.0.11 (BSD Zero Clause)",
        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
    ),
}


def routers() -> list[APIRouter]:
    """Every screen module's `router` (renewflow.console.views.*), in name order."""
    found = []
    for module in sorted(pkgutil.iter_modules(views.__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"{views.__name__}.{module.name}")
        router = getattr(loaded, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


def static_dir() -> Path:
    return Path(str(resources.files("renewflow.console").joinpath("static")))


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    for router in routers():
        app.include_router(router)
