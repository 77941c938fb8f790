"""Customer data in, and the WorkflowContext that templates read."""

from renewflow.context.builder import (
    WorkflowContext,
    build_context,
    build_contexts,
    missing_paths,
)
from renewflow.context.customers import (
    add_contact,
    customer_ids_by_external_id,
    ensure_csm,
    get_customer,
    list_customers,
    record_usage,
    set_contract,
    set_intelligence,
    upsert_customer,
)
from renewflow.context.errors import (
    ContextError,
    CustomerNotFound,
    ImportFailed,
    InvalidCustomerData,
    RowProblem,
)
from renewflow.context.models import (
    ContactIn,
    ContractIn,
    CustomerIn,
    IntelligenceIn,
    UsageIn,
    UsageRowIn,
)

__all__ = [
    "ContactIn",
    "ContextError",
    "ContractIn",
    "CustomerIn",
    "CustomerNotFound",
    "ImportFailed",
    "IntelligenceIn",
    "InvalidCustomerData",
    "RowProblem",
    "UsageIn",
    "UsageRowIn",
    "WorkflowContext",
    "add_contact",
    "build_context",
    "build_contexts",
    "customer_ids_by_external_id",
    "ensure_csm",
    "get_customer",
    "list_customers",
    "missing_paths",
    "record_usage",
    "set_contract",
    "set_intelligence",
    "upsert_customer",
]
