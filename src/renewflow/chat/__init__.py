"""The step chat: saved actions and their handlers, a step's chat branches, LLM and RAG threads
with their messages and tools (spec: workflow-database-schema.md, tables 3-8)."""

from renewflow.chat.actions import (
    CORE_ACTION_IDS,
    CORE_ACTIONS,
    action_ids,
    create_action,
    get_action,
    list_actions,
    update_action,
)
from renewflow.chat.branches import (
    branch_json,
    list_branches,
    match_branch,
    route_free_text,
    run_branch,
)
from renewflow.chat.errors import (
    ActionNotFound,
    BranchNotFound,
    ChatError,
    NoBranchMatched,
    ThreadClosed,
    ThreadNotFound,
    UnresolvedHandler,
)
from renewflow.chat.handlers import (
    ActionInput,
    ActionResult,
    HandlerRegistry,
    LLMHandler,
    default_registry,
    unresolved,
)
from renewflow.chat.threads import (
    Answer,
    check_message,
    end_thread,
    get_thread,
    keep_retrieved_citations,
    message_json,
    post_message,
    thread_messages,
    thread_tool_calls,
)
from renewflow.chat.tools import chart_svg, check_chart

__all__ = [
    "CORE_ACTIONS",
    "CORE_ACTION_IDS",
    "ActionInput",
    "ActionNotFound",
    "ActionResult",
    "Answer",
    "BranchNotFound",
    "ChatError",
    "HandlerRegistry",
    "LLMHandler",
    "NoBranchMatched",
    "ThreadClosed",
    "ThreadNotFound",
    "UnresolvedHandler",
    "action_ids",
    "branch_json",
    "chart_svg",
    "check_chart",
    "check_message",
    "create_action",
    "default_registry",
    "end_thread",
    "get_action",
    "get_thread",
    "keep_retrieved_citations",
    "list_actions",
    "list_branches",
    "match_branch",
    "message_json",
    "post_message",
    "route_free_text",
    "run_branch",
    "thread_messages",
    "thread_tool_calls",
    "unresolved",
    "update_action",
]
