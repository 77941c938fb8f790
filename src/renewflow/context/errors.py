"""Errors of customer data and the workflow context."""

from __future__ import annotations

from renewflow.errors import ConflictError, InvalidInputError, NotFoundError, RenewflowError


class ContextError(RenewflowError):
    """Base of the customer-data errors."""


class CustomerNotFound(ContextError, NotFoundError):
    """No such customer in the caller's tenant."""


class CustomerConflict(ContextError, ConflictError):
    """The change clashes with an existing row (a duplicate external id, say)."""


class InvalidCustomerData(ContextError, InvalidInputError):
    """A value of customer data is not acceptable; `field` names it."""


class ImportFailed(ContextError):
    """A file was not imported; `problems` lists every bad row and field. Nothing was written."""

    def __init__(self, source: str, problems: list[RowProblem]) -> None:
        self.problems = problems
        lines = "\n".join(str(problem) for problem in problems[:50])
        more = f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{source}: nothing imported, {len(problems)} problem(s):\n{lines}{more}")


class RowProblem:
    """One bad value of an import: which row (1-based, as a spreadsheet counts data rows), which
    field, what is wrong."""

    def __init__(self, row: int, field: str, message: str) -> None:
        self.row = row
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "message": self.message}
