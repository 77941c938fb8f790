"""Multi-step agent tasks (spec: agent-task-steps.md): ordered steps owned by one user, run one
leased job per step on the worker, each step optionally given the previous steps' results.

- `service`: create, read, edit, reorder; run, resume, cancel, approve and skip (the caller's
  transaction; row-level security keeps each user to their own tasks);
- `AgentStepQueue`: the step runner on the shared job mechanism (`renewflow.jobs`);
- `context`: what a step receives of the previous results, within the task's budget.
"""

from renewflow.agents.errors import AgentTaskNotFound, NotAllowedNow, StepNotFound, TaskBusy
from renewflow.agents.models import (
    AgentTask,
    AgentTaskPage,
    AgentTaskSummary,
    Reorder,
    Step,
    StepIn,
    StepStatus,
    StepUpdate,
    TaskCreate,
    TaskStatus,
    TaskUpdate,
    Usage,
)
from renewflow.agents.runner import AgentStepQueue
from renewflow.agents.service import (
    add_step,
    approve_step,
    cancel_task,
    create_task,
    delete_step,
    delete_task,
    get_task,
    list_tasks,
    reorder_steps,
    resume_task,
    run_task,
    skip_step,
    update_step,
    update_task,
)

__all__ = [
    "AgentStepQueue",
    "AgentTask",
    "AgentTaskNotFound",
    "AgentTaskPage",
    "AgentTaskSummary",
    "NotAllowedNow",
    "Reorder",
    "Step",
    "StepIn",
    "StepNotFound",
    "StepStatus",
    "StepUpdate",
    "TaskBusy",
    "TaskCreate",
    "TaskStatus",
    "TaskUpdate",
    "Usage",
    "add_step",
    "approve_step",
    "cancel_task",
    "create_task",
    "delete_step",
    "delete_task",
    "get_task",
    "list_tasks",
    "reorder_steps",
    "resume_task",
    "run_task",
    "skip_step",
    "update_step",
    "update_task",
]
