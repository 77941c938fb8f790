"""A demo book of business: a tenant with about 200 customers over every renewal stage, generated
from a fixed seed, with executions, steps run by the mock provider, tasks and notifications, so
every screen of the console has something to show (docs/demo.md)."""

from renewflow.demo.book import Book, domain_of, generate_book
from renewflow.demo.errors import (
    CoreWorkflowsMissing,
    DemoError,
    DemoExists,
    DemoNotFound,
    NotADemoTenant,
)
from renewflow.demo.loader import (
    DEFAULT_NAME,
    DEFAULT_SEED,
    DemoTenant,
    DemoUser,
    find,
    load,
    remove,
    sign_in_url,
)

__all__ = [
    "DEFAULT_NAME",
    "DEFAULT_SEED",
    "Book",
    "CoreWorkflowsMissing",
    "DemoError",
    "DemoExists",
    "DemoNotFound",
    "DemoTenant",
    "DemoUser",
    "NotADemoTenant",
    "domain_of",
    "find",
    "generate_book",
    "load",
    "remove",
    "sign_in_url",
]
