"""The shape of `workflows.config`: one pydantic model, the single source of the JSON Schema.

Keys are camelCase as stored; unknown keys are rejected, which is how UI-only keys (`ui`,
`cardTitle`, `styling`...) are kept out of the database (spec: workflow-database-schema.md,
"What's Excluded from config"). Cross-field rules (routes, reachability, templates) live in
`validator.py`, so that every error can be reported with its path instead of failing at the first.

The spec's own names for two of our keys (`conditional`, `conditionalLogic`) are not part of the
model: `vocabulary.py` maps them onto ours before validation, so a stored config never holds them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Ids appear in template paths (`outputs.<step id>.field`), so they stay plain: kebab-case.
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=50)]
Text = Annotated[str, Field(min_length=1)]
TemplateText = Annotated[
    str, Field(min_length=1, description="A Handlebars template (workflow-template-system.md).")
]

# A step processor's registered name; the validator checks that it is registered.
ProcessorName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.:-]*$", max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, frozen=True)


class DayRange(_Model):
    """Inclusive days until the renewal date; negative once the date has passed."""

    min: int = Field(ge=-3650, le=3650)
    max: int = Field(ge=-3650, le=3650)


class EarlyTrigger(_Model):
    """Starts the workflow before its day range when `condition` renders truthy."""

    condition: TemplateText
    description: Text


class ManualTrigger(_Model):
    """A way for a person to start the workflow by hand, outside the day range."""

    label: Text
    roles: list[Literal["admin", "manager", "csm"]] = Field(min_length=1)


class Trigger(_Model):
    days_until_renewal: DayRange
    early_triggers: list[EarlyTrigger] = []
    manual_triggers: list[ManualTrigger] = []


class WorkflowContext(_Model):
    system_prompt: TemplateText


class Execution(_Model):
    llm_prompt: TemplateText | None = None
    processor: ProcessorName | None = Field(
        default=None,
        description="A registered step processor (built-in, or a plugin of the entry-point group "
        "renewflow.step_processors), run before, after or instead of the LLM.",
    )
    data_required: list[Text] = []
    outputs: dict[str, Any] = Field(
        default_factory=dict,
        description="A JSON Schema (type: object) of the step's structured output.",
    )


class Route(_Model):
    condition: TemplateText
    next_step: Slug


class Routing(_Model):
    routes: list[Route] = []
    default_route: Slug | None = None


class ArtifactSection(_Model):
    title: TemplateText
    content: TemplateText


class Artifact(_Model):
    id: Slug
    type: Literal["report", "email", "checklist"]
    title: TemplateText
    sections: list[ArtifactSection] = Field(min_length=1)


class Task(_Model):
    """An action-plan task the step creates when it completes."""

    id: Slug
    title: TemplateText
    description: TemplateText | None = None
    owner: Literal["csm", "manager", "ae", "sa", "vp-customer-success", "executive-sponsor"]
    due_in_days: int = Field(ge=0, le=365)
    priority: Literal["low", "medium", "high", "critical"] = "medium"


class ChatBranch(_Model):
    """A scripted way out of a step's chat (table workflow_chat_branches, from the config)."""

    id: Slug
    label: Text
    type: Literal["fixed", "llm", "saved_action", "rag"]
    user_prompts: list[Text] = []
    response_text: TemplateText | None = None
    next_step: Slug | None = None
    saved_action_id: Text | None = None
    llm_handler: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./:-]*$")] | None = None
    allow_off_script: bool = False
    return_to_step: Slug | None = None


class Step(_Model):
    id: Slug
    name: Text
    type: Literal[
        "analysis",
        "planning",
        "action",
        "approval",
        "communication",
        "decision",
        "conditional_routing",
    ] = Field(
        description="conditional_routing: a routing-only step, evaluated by the engine without "
        "an LLM call (it has routing and no prompt, processor, outputs, artifacts or tasks)."
    )
    description: Text
    condition: TemplateText | None = Field(
        default=None,
        description="Rendered when the step is reached: unless it renders true (as every "
        "condition), the engine skips the step, recorded as skipped with the reason, and moves on.",
    )
    execution: Execution = Field(default_factory=Execution)
    routing: Routing | None = None
    artifacts: list[Artifact] = []
    tasks: list[Task] = []
    chat_branches: list[ChatBranch] = []


class Schedule(_Model):
    """Sends the notification on a given day of the renewal (negative: days overdue)."""

    days_until_renewal: int = Field(ge=-3650, le=3650)
    repeat_every_days: int | None = Field(default=None, ge=1, le=365)


class Notification(_Model):
    id: Slug
    type: Literal["in_app", "email", "slack", "sms"]
    title: TemplateText
    message: TemplateText
    recipients: list[TemplateText] = Field(min_length=1)
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    condition: TemplateText | None = None
    action_triggered: Slug | None = Field(
        default=None, description="Send when this step completes (its outputs are readable)."
    )
    metadata: dict[str, Any] = {}
    schedule: Schedule | None = None


class WorkflowConfig(_Model):
    """One workflow, exactly as stored in `workflows.config`."""

    model_config = ConfigDict(
        title="Renewflow workflow config",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    id: Slug
    name: Annotated[str, Field(min_length=1, max_length=255)]
    description: Text
    version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$", max_length=20)]
    trigger: Trigger
    context: WorkflowContext
    steps: list[Step] = Field(min_length=1)
    notifications: list[Notification] = Field(min_length=1)


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of a workflow config (docs/workflow.schema.json)."""
    return WorkflowConfig.model_json_schema(by_alias=True, mode="validation")
