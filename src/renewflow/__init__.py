"""renewflow: customer-success renewal playbooks as versioned data, run on PostgreSQL."""

__version__ = "0.1.0"
