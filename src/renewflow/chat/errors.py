"""Errors of the step chat."""

from __future__ import annotations

from renewflow.errors import ConflictError, InvalidInputError, NotFoundError, RenewflowError


class ChatError(RenewflowError):
    """Base of the chat's errors."""


class ThreadNotFound(ChatError, NotFoundError):
    """No such thread in the caller's tenant (another tenant's looks the same)."""


class BranchNotFound(ChatError, NotFoundError):
    """The current step has no branch of that id (or it is another tenant's)."""


class ActionNotFound(ChatError, NotFoundError):
    """No saved action of that id among the core ones and the tenant's own."""


class ThreadClosed(ChatError, ConflictError):
    """The thread is completed or abandoned: it takes no more messages."""


class NoBranchMatched(ChatError, ConflictError):
    """Free text matched no branch's prompts, and no branch of the step accepts off-script text."""


class UnresolvedHandler(ChatError, InvalidInputError):
    """A handler string names nothing registered (`code:` or `file:`), or is refused outright."""
