"""The one workflow validator, behind the CLI (`renewflow workflows validate`) and the API.

It never stops at the first problem: every error comes back as a `ValidationIssue` with the JSON
path of the offending value, e.g. `steps[2].routing.routes[0].nextStep: no step named "escalate"`.
The model's own errors come first; the cross-field rules run only on a config the model accepts,
because they need its structure.

Before any of it, the spec's names for our keys are mapped onto ours (`vocabulary.py`); each
mapping is reported as a warning (`severity="warning"`), which does not make a config invalid.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from renewflow.llm.schema import schema_problems
from renewflow.templates import TemplateError, TemplateSyntaxError
from renewflow.templates import compile as compile_template
from renewflow.workflows.model import Step, WorkflowConfig
from renewflow.workflows.processors import step_processor_names

# The documented template context (docs/workflows.md, "Context variables").
CONTEXT_ROOTS = (
    "customer",
    "csm",
    "workflow",
    "company",
    "accountTeam",
    "intelligence",
    "data",
    "outputs",
)
# Path segments under /api/workflows/ that belong to other routes (tasks, the context API, the
# sweep, templates, executions): a workflow with one of these ids could not be addressed.
RESERVED_IDS = frozenset({"tasks", "context", "sweep", "from-template", "executions", "runs"})
UI_ONLY_KEYS = frozenset({"ui", "cardTitle", "cardDescription", "styling", "layout", "theme"})

_ROOT = re.compile(r"^[^.\[]+")


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        text = f"warning: {self.message}" if self.severity == "warning" else self.message
        return f"{self.path}: {text}" if self.path else text


def errors_in(issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
    return [issue for issue in issues if issue.severity == "error"]


def warnings_in(issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
    return [issue for issue in issues if issue.severity == "warning"]


def validate_config(
    data: object,
    *,
    processors: Collection[str] | None = None,
    saved_actions: Collection[str] | None = None,
) -> list[ValidationIssue]:
    """Every problem with `data` as a workflow config: errors, and warnings where a spec key was
    read as ours. No errors means it is valid; what to store is then `translate(data).data`.

    `processors` are the names `execution.processor` may use (default: the registry's,
    `step_processor_names()`). `saved_actions` are the action ids a branch's `savedActionId`
    may name (default: the core actions; a tenant's service passes its own too). Paths are those
    of `data` as written, spec keys included.
    """
    # Imported here: vocabulary builds its issues with ValidationIssue, defined above.
    from renewflow.workflows.vocabulary import translate

    translation = translate(data)
    try:
        config = WorkflowConfig.model_validate(translation.data)
    except ValidationError as error:
        found = [_model_issue(e) for e in error.errors()]
    else:
        found = _Checker(config, processors, saved_actions).run()
    # An object with both names keeps both: its error is the vocabulary's, not "unknown key".
    refused = {issue.path for issue in errors_in(translation.issues)}
    return translation.issues + [
        ValidationIssue(translation.spec_path(issue.path), issue.message, issue.severity)
        for issue in found
        if issue.path not in refused
    ]


def format_path(loc: Sequence[int | str]) -> str:
    """`("steps", 2, "routing")` -> `steps[2].routing`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _model_issue(error: Mapping[str, Any]) -> ValidationIssue:
    loc = tuple(error["loc"])
    path = format_path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        key = loc[-1] if loc else ""
        if key in UI_ONLY_KEYS:
            return ValidationIssue(path, "UI-only key: rendering belongs to the UI, not the config")
        return ValidationIssue(path, "unknown key")
    if kind == "missing":
        return ValidationIssue(path, "required")
    message: str = error["msg"]
    return ValidationIssue(path, message[0].lower() + message[1:] if message else kind)


@dataclass(frozen=True, slots=True)
class _Template:
    path: str
    source: str
    # Steps whose outputs this template may read.
    readable: frozenset[str]


class _Checker:
    def __init__(
        self,
        config: WorkflowConfig,
        processors: Collection[str] | None = None,
        saved_actions: Collection[str] | None = None,
    ) -> None:
        self.config = config
        self.processors = processors
        self.saved_actions = saved_actions
        self.issues: list[ValidationIssue] = []
        self.index: dict[str, int] = {}
        for i, step in enumerate(config.steps):
            self.index.setdefault(step.id, i)
        self.steps = {step.id: step for step in reversed(config.steps)}

    def error(self, path: str, message: str) -> None:
        self.issues.append(ValidationIssue(path, message))

    def run(self) -> list[ValidationIssue]:
        self.check_id()
        self.check_trigger()
        self.check_unique_ids()
        self.check_routing_steps()
        self.check_step_references()
        successors = self.successors()
        self.check_reachable(successors)
        after = self.runs_after(successors)
        self.check_outputs_schemas()
        for template in self.templates(after):
            self.check_template(template)
        self.check_data_required()
        self.check_processors()
        self.check_chat_handlers()
        return self.issues

    def check_id(self) -> None:
        if self.config.id in RESERVED_IDS:
            self.error(
                "id",
                f'"{self.config.id}" is reserved (the API route /api/workflows/{self.config.id}); '
                "choose another id",
            )

    def check_trigger(self) -> None:
        days = self.config.trigger.days_until_renewal
        if days.min > days.max:
            self.error(
                "trigger.daysUntilRenewal",
                f"min ({days.min}) is greater than max ({days.max})",
            )
        for i, notification in enumerate(self.config.notifications):
            if notification.schedule is None:
                continue
            day = notification.schedule.days_until_renewal
            if not days.min <= day <= days.max:
                self.error(
                    f"notifications[{i}].schedule.daysUntilRenewal",
                    f"day {day} is outside the trigger range {days.min}..{days.max}",
                )

    def check_unique_ids(self) -> None:
        self._unique("steps", [step.id for step in self.config.steps], "step")
        self._unique("notifications", [n.id for n in self.config.notifications], "notification")
        for i, step in enumerate(self.config.steps):
            self._unique(f"steps[{i}].artifacts", [a.id for a in step.artifacts], "artifact")
            self._unique(f"steps[{i}].tasks", [t.id for t in step.tasks], "task")
            self._unique(
                f"steps[{i}].chatBranches", [b.id for b in step.chat_branches], "chat branch"
            )

    def _unique(self, path: str, ids: list[str], what: str) -> None:
        first: dict[str, int] = {}
        for i, item_id in enumerate(ids):
            if item_id in first:
                self.error(
                    f"{path}[{i}].id",
                    f'duplicate {what} id "{item_id}" (first at {path}[{first[item_id]}])',
                )
            else:
                first[item_id] = i

    def check_routing_steps(self) -> None:
        """A conditional_routing step is evaluated by the engine, without an LLM call: it routes,
        and has nothing to run, produce or hand to a person."""
        for i, step in enumerate(self.config.steps):
            if step.type != "conditional_routing":
                continue
            path = f"steps[{i}]"
            if step.routing is None:
                self.error(
                    f"{path}.routing",
                    "required: a conditional_routing step only routes (give it routes or a "
                    "defaultRoute)",
                )
            elif not step.routing.routes and step.routing.default_route is None:
                self.error(
                    f"{path}.routing",
                    "a conditional_routing step needs at least one route or a defaultRoute",
                )
            refused = {
                "execution.llmPrompt": (
                    step.execution.llm_prompt is not None,
                    "the engine evaluates its routes without an LLM call",
                ),
                "execution.processor": (
                    step.execution.processor is not None,
                    "nothing runs on it, the engine only evaluates its routes",
                ),
                "execution.outputs": (
                    bool(step.execution.outputs),
                    "it produces no outputs (its routes read the context and earlier steps' "
                    "outputs)",
                ),
                "artifacts": (
                    bool(step.artifacts),
                    "it only routes; give the artifacts to a step of another type",
                ),
                "tasks": (
                    bool(step.tasks),
                    "it only routes; give the tasks to a step of another type",
                ),
            }
            for key, (present, why) in refused.items():
                if present:
                    self.error(f"{path}.{key}", f"not allowed on a conditional_routing step: {why}")

    def _exists(self, path: str, step_id: str | None) -> None:
        if step_id is not None and step_id not in self.steps:
            self.error(path, f'no step named "{step_id}"')

    def check_step_references(self) -> None:
        for i, step in enumerate(self.config.steps):
            if step.routing is not None:
                for j, route in enumerate(step.routing.routes):
                    self._exists(f"steps[{i}].routing.routes[{j}].nextStep", route.next_step)
                self._exists(f"steps[{i}].routing.defaultRoute", step.routing.default_route)
            for j, branch in enumerate(step.chat_branches):
                self._exists(f"steps[{i}].chatBranches[{j}].nextStep", branch.next_step)
                self._exists(f"steps[{i}].chatBranches[{j}].returnToStep", branch.return_to_step)
        for i, notification in enumerate(self.config.notifications):
            self._exists(f"notifications[{i}].actionTriggered", notification.action_triggered)

    def successors(self) -> dict[str, set[str]]:
        """Where each step can go next: its routes and default route, its chat branches'
        targets, and the next step in order when it has no routing or a `condition` (a skipped
        step moves on in order, as a step skipped by hand does)."""
        steps = self.config.steps
        graph: dict[str, set[str]] = {step.id: set() for step in steps}
        for i, step in enumerate(steps):
            targets = graph[step.id]
            if (step.routing is None or step.condition is not None) and i + 1 < len(steps):
                targets.add(steps[i + 1].id)
            if step.routing is not None:
                targets.update(route.next_step for route in step.routing.routes)
                if step.routing.default_route is not None:
                    targets.add(step.routing.default_route)
            for branch in step.chat_branches:
                targets.update(t for t in (branch.next_step, branch.return_to_step) if t)
            targets.intersection_update(self.steps)
        return graph

    def check_reachable(self, graph: dict[str, set[str]]) -> None:
        reached = _reach(graph, self.config.steps[0].id) | {self.config.steps[0].id}
        for i, step in enumerate(self.config.steps):
            if step.id not in reached and self.index[step.id] == i:
                self.error(
                    f"steps[{i}]",
                    f'step "{step.id}" cannot be reached from the first step '
                    f'("{self.config.steps[0].id}")',
                )

    def runs_after(self, graph: dict[str, set[str]]) -> dict[str, frozenset[str]]:
        """For each step, the steps that can have completed before it runs."""
        before: dict[str, set[str]] = {step_id: set() for step_id in graph}
        for step_id in graph:
            for later in _reach(graph, step_id):
                before[later].add(step_id)
        return {step_id: frozenset(ids) for step_id, ids in before.items()}

    def check_outputs_schemas(self) -> None:
        for i, step in enumerate(self.config.steps):
            schema = step.execution.outputs
            if not schema:
                continue
            path = f"steps[{i}].execution.outputs"
            if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
                self.error(path, 'must be a JSON Schema with type "object" and properties')
            # what would otherwise fail every run of the step: a schema that does not compile,
            # a $ref leaving the document, a keyword outside the subset (a typo like `minimun`)
            for problem in schema_problems(schema):
                self.error(path, problem)

    def templates(self, before: dict[str, frozenset[str]]) -> Iterator[_Template]:
        config = self.config
        none: frozenset[str] = frozenset()
        yield _Template("context.systemPrompt", config.context.system_prompt, none)
        for i, trigger in enumerate(config.trigger.early_triggers):
            yield _Template(f"trigger.earlyTriggers[{i}].condition", trigger.condition, none)
        for i, step in enumerate(config.steps):
            yield from self._step_templates(f"steps[{i}]", step, before[step.id])
        for i, notification in enumerate(config.notifications):
            readable = none
            if notification.action_triggered in self.steps:
                action = notification.action_triggered
                readable = before[action] | {action}
            path = f"notifications[{i}]"
            yield _Template(f"{path}.title", notification.title, readable)
            yield _Template(f"{path}.message", notification.message, readable)
            if notification.condition is not None:
                yield _Template(f"{path}.condition", notification.condition, readable)
            for j, recipient in enumerate(notification.recipients):
                yield _Template(f"{path}.recipients[{j}]", recipient, readable)

    def _step_templates(self, path: str, step: Step, before: frozenset[str]) -> Iterator[_Template]:
        # The condition is rendered as the step is reached, like its prompt.
        if step.condition is not None:
            yield _Template(f"{path}.condition", step.condition, before)
        if step.execution.llm_prompt is not None:
            yield _Template(f"{path}.execution.llmPrompt", step.execution.llm_prompt, before)
        # Routing, artifacts, tasks and chat run once the step has produced its outputs.
        done = before | {step.id}
        if step.routing is not None:
            for j, route in enumerate(step.routing.routes):
                yield _Template(f"{path}.routing.routes[{j}].condition", route.condition, done)
        for j, artifact in enumerate(step.artifacts):
            yield _Template(f"{path}.artifacts[{j}].title", artifact.title, done)
            for k, section in enumerate(artifact.sections):
                section_path = f"{path}.artifacts[{j}].sections[{k}]"
                yield _Template(f"{section_path}.title", section.title, done)
                yield _Template(f"{section_path}.content", section.content, done)
        for j, task in enumerate(step.tasks):
            yield _Template(f"{path}.tasks[{j}].title", task.title, done)
            if task.description is not None:
                yield _Template(f"{path}.tasks[{j}].description", task.description, done)
        for j, branch in enumerate(step.chat_branches):
            if branch.response_text is not None:
                yield _Template(
                    f"{path}.chatBranches[{j}].responseText", branch.response_text, done
                )

    def check_template(self, template: _Template) -> None:
        try:
            variables = compile_template(template.source).variables
        except TemplateSyntaxError as error:
            self.error(
                template.path,
                f"template error: {error.message} (line {error.line}, column {error.column})",
            )
            return
        except TemplateError as error:
            self.error(template.path, f"template error: {error}")
            return
        for variable in sorted(variables):
            self.check_variable(template.path, variable, template.readable)

    def check_variable(self, path: str, variable: str, readable: frozenset[str]) -> None:
        match = _ROOT.match(variable)
        root = match.group(0) if match else variable
        if root not in CONTEXT_ROOTS:
            self.error(
                path,
                f'unknown variable "{variable}": variables start with ' + ", ".join(CONTEXT_ROOTS),
            )
            return
        if root != "outputs":
            return
        parts = re.split(r"[.\[]", variable)
        if len(parts) < 2 or not parts[1]:
            self.error(path, f'"{variable}" must name a step: outputs.<step id>.<field>')
            return
        step_id = parts[1]
        if step_id not in self.steps:
            self.error(path, f'"{variable}" reads the outputs of no step named "{step_id}"')
        elif self.steps[step_id].type == "conditional_routing":
            self.error(
                path,
                f'"{variable}": step "{step_id}" is a conditional_routing step, it has no outputs',
            )
        elif step_id not in readable:
            self.error(
                path,
                f'"{variable}" reads the outputs of step "{step_id}", '
                "which cannot have run before this point",
            )
        elif len(parts) > 2 and parts[2]:
            properties = self.steps[step_id].execution.outputs.get("properties")
            if isinstance(properties, dict) and parts[2] not in properties:
                self.error(
                    path,
                    f'"{variable}": step "{step_id}" has no output "{parts[2]}" in its outputs schema',
                )

    def check_data_required(self) -> None:
        for i, step in enumerate(self.config.steps):
            for j, item in enumerate(step.execution.data_required):
                root = item.split(".", 1)[0]
                if root not in CONTEXT_ROOTS or root == "outputs":
                    self.error(
                        f"steps[{i}].execution.dataRequired[{j}]",
                        f'"{item}" is not a context path: it starts with one of '
                        + ", ".join(r for r in CONTEXT_ROOTS if r != "outputs"),
                    )

    def check_processors(self) -> None:
        known: Collection[str] | None = self.processors
        for i, step in enumerate(self.config.steps):
            name = step.execution.processor
            if name is None or step.type == "conditional_routing":
                continue  # a routing step's processor is refused as such
            if known is None:
                known = step_processor_names()  # loads the plugins: only when a step names one
            if name not in known:
                listed = (
                    "known processors are " + ", ".join(sorted(known))
                    if known
                    else "no step processors are registered"
                )
                self.error(
                    f"steps[{i}].execution.processor", f'unknown step processor "{name}": {listed}'
                )

    def check_chat_handlers(self) -> None:
        """A branch's `savedActionId` names an action the tenant has (core or its own), and its
        `llmHandler` a registered handler: `file:` paths are never loaded, so one that names no
        registered plugin handler is refused here, with the reason."""
        # imported here: the chat package builds on this one
        from renewflow.chat.actions import CORE_ACTION_IDS
        from renewflow.chat.handlers import unresolved

        actions = CORE_ACTION_IDS if self.saved_actions is None else self.saved_actions
        for i, step in enumerate(self.config.steps):
            for j, branch in enumerate(step.chat_branches):
                path = f"steps[{i}].chatBranches[{j}]"
                if branch.type == "saved_action" and branch.saved_action_id is None:
                    self.error(f"{path}.savedActionId", "required for a saved_action branch")
                if branch.saved_action_id is not None and branch.saved_action_id not in actions:
                    self.error(
                        f"{path}.savedActionId",
                        f'no saved action "{branch.saved_action_id}": known actions are '
                        + ", ".join(sorted(actions)),
                    )
                if branch.llm_handler is not None:
                    why = unresolved(branch.llm_handler, "llm")
                    if why is not None:
                        self.error(f"{path}.llmHandler", why)


def _reach(graph: Mapping[str, set[str]], start: str) -> set[str]:
    """Steps reachable from `start` in one or more moves (`start` itself only through a loop)."""
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        step_id = stack.pop()
        if step_id not in seen:
            seen.add(step_id)
            stack.extend(graph.get(step_id, ()))
    return seen
