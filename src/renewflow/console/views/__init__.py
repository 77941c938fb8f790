"""The console's screens, one module per group, each an APIRouter of ConsoleRoute routes."""
