"""Loading the demo book into a tenant of its own, and removing it.

`load` writes through the domain packages' functions (accounts, context, engine, tasks), as an
integration would, so every screen shows data the real code paths made: customers and their
contracts, contacts, usage and intelligence; the trigger sweep's executions; a few steps run with
the offline mock provider (its answers read the customers' facts); CSM tasks in every state; the
notifications the steps and the renewal calendar fire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from renewflow import accounts, context, engine, tasks
from renewflow.accounts.sessions import issue_login_link
from renewflow.db import Connection, Database, load_queries
from renewflow.demo import book as books
from renewflow.demo.errors import CoreWorkflowsMissing, DemoExists, DemoNotFound, NotADemoTenant
from renewflow.errors import InvalidInputError
from renewflow.llm import LLMClients
from renewflow.settings import TenantSettings, stored_document
from renewflow.workflows.files import core_library
from renewflow.workflows.model import Step

log = logging.getLogger(__name__)

_Q = load_queries("renewflow.demo")

DEFAULT_NAME = "Demo CS"
DEFAULT_SEED = 7
TIME_ZONE = "America/New_York"

# How many steps to run for the first customers of each workflow (the story accounts first): each
# run stops earlier at an approval, at a step with a processor (it would record terms or an
# outcome, changing the book) and before the workflow's last step (every execution stays active).
STEP_RUNS: Mapping[str, tuple[int, ...]] = {
    "monitor": (2, 2, 1, 1),
    "prepare": (2, 2, 1),
    "engage": (2, 1),
    "negotiate": (2, 1),
    "finalize": (2, 1),
    "critical": (2, 2),
    "emergency": (1, 1, 1),
    "overdue": (2, 2, 1),
}

# Stages whose customers get the hand-made CSM tasks: the renewals being worked on now.
_TASK_STAGES = ("negotiate", "finalize", "critical", "engage", "emergency", "overdue", "prepare")


@dataclass(frozen=True)
class DemoUser:
    id: UUID
    email: str
    name: str | None
    role: str


@dataclass(frozen=True)
class DemoTenant:
    """A loaded demo: its tenant, its users by role (`admin`, `manager`, `csm`) and what it
    holds (`counts`: customers, contacts, usage_metrics, users, active_executions,
    completed_steps, tasks, notifications, high_risk; and, right after `load`, the tasks by
    status as `tasks_<status>` and the step runs that failed as `failed_steps`)."""

    tenant_id: UUID
    name: str
    seed: int | None
    users: Mapping[str, tuple[DemoUser, ...]]
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def admin(self) -> DemoUser:
        return self.users["admin"][0]

    @property
    def manager(self) -> DemoUser:
        return self.users["manager"][0]

    @property
    def csms(self) -> tuple[DemoUser, ...]:
        return self.users.get("csm", ())


def load(
    database: Database,
    *,
    tenant_name: str = DEFAULT_NAME,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
) -> DemoTenant:
    """Creates the tenant `tenant_name` with the demo book of `seed` (see docs/demo.md).

    A demo tenant of that name already there is refused (`DemoExists`), or with `replace`
    removed first (in the transaction that creates the new tenant); a tenant of that name the
    demo did not make is never touched (`NotADemoTenant`). The core workflow library must be
    seeded (`CoreWorkflowsMissing`). If loading fails half-way, the new tenant is removed.
    """
    generated = books.generate_book(seed)
    domain = books.domain_of(tenant_name)
    with database.service_transaction() as conn:
        conn.execute(_Q["lock_tenant_name"], {"name": tenant_name})
        existing = conn.execute(_Q["tenants_named"], {"name": tenant_name}).fetchall()
        _refuse_others(existing, tenant_name)
        if existing and not replace:
            raise DemoExists(
                f"the demo tenant {tenant_name!r} exists already: remove it first, or load "
                "with replace"
            )
        _require_core_workflows(conn)
        if existing:
            conn.execute(_Q["delete_tenants"], {"ids": [row["id"] for row in existing]})
        tenant_id: UUID = accounts.create_tenant(conn, tenant_name, TIME_ZONE)["id"]
        conn.execute(
            _Q["set_tenant_settings"],
            {"tenant_id": tenant_id, "settings": Jsonb(_settings(domain, seed))},
        )
    try:
        return _Loader(database, tenant_id, tenant_name, generated, domain).run()
    except BaseException:
        _discard(database, tenant_id)
        raise


def _discard(database: Database, tenant_id: UUID) -> None:
    """Removes a half-loaded demo tenant; the loading's own error is the one to report."""
    try:
        with database.service_transaction() as conn:
            conn.execute(_Q["delete_tenants"], {"ids": [tenant_id]})
    except Exception:
        log.exception("demo: could not remove the half-loaded tenant %s", tenant_id)


def remove(database: Database, tenant_name: str = DEFAULT_NAME) -> int:
    """Deletes the demo tenant `tenant_name` and every row of it (the foreign keys cascade from
    `tenants`); returns how many tenants were deleted (0 when there was none). A tenant of that
    name not made by `load` is refused (`NotADemoTenant`), and nothing is deleted."""
    with database.service_transaction() as conn:
        conn.execute(_Q["lock_tenant_name"], {"name": tenant_name})
        existing = conn.execute(_Q["tenants_named"], {"name": tenant_name}).fetchall()
        _refuse_others(existing, tenant_name)
        if not existing:
            return 0
        deleted = conn.execute(
            _Q["delete_tenants"], {"ids": [row["id"] for row in existing]}
        ).fetchall()
    return len(deleted)


def find(database: Database, tenant_name: str = DEFAULT_NAME) -> DemoTenant | None:
    """The demo tenant `tenant_name` with its users and counts, or None if there is none."""
    with database.service_transaction() as conn:
        rows = conn.execute(_Q["tenants_named"], {"name": tenant_name}).fetchall()
    _refuse_others(rows, tenant_name)
    if not rows:
        return None
    seed = rows[0]["seed"]
    return _describe(database, rows[0]["id"], tenant_name, seed if isinstance(seed, int) else None)


def sign_in_url(database: Database, demo: DemoTenant, base_url: str, role: str = "admin") -> str:
    """A one-time console sign-in link (15 minutes) for the demo's first user of `role`."""
    users = demo.users.get(role)
    if not users:
        raise DemoNotFound(f"the demo tenant {demo.name!r} has no {role} user")
    with database.service_transaction() as conn:
        token = issue_login_link(conn, users[0].email, demo.tenant_id)
    return f"{base_url.rstrip('/')}/sign-in/link/{token}"


def _refuse_others(rows: list[dict[str, Any]], tenant_name: str) -> None:
    others = [row for row in rows if not row["is_demo"]]
    if others:
        raise NotADemoTenant(
            f"the tenant {others[0]['id']} is named {tenant_name!r} but is not a demo tenant: "
            "it is left alone (choose another demo name)"
        )


def _require_core_workflows(conn: Connection) -> None:
    present = {row["workflow_id"] for row in conn.execute(_Q["core_workflow_ids"]).fetchall()}
    needed = {config.id for config in core_library()}
    if not needed <= present:
        missing = ", ".join(sorted(needed - present))
        raise CoreWorkflowsMissing(
            f"the core workflows are not seeded ({missing} missing): run "
            "`renewflow workflows seed` first"
        )


def _settings(domain: str, seed: int) -> dict[str, Any]:
    """The demo tenant's settings, validated as any tenant's (renewflow.settings)."""
    settings = TenantSettings.model_validate(
        {
            "company": {
                "vp_customer_success": books.VP.email(domain),
                "ceo": books.CEO.email(domain),
                "war_room": f"{books.WAR_ROOM}@{domain}",
            },
            "llm": {"provider": "mock"},
            # marks the tenant as the demo's: `remove` deletes no other
            "demo": {"seed": seed},
        }
    )
    return stored_document(settings)


def _describe(
    database: Database, tenant_id: UUID, name: str, seed: int | None, **extra: int
) -> DemoTenant:
    with database.tenant_transaction(tenant_id) as conn:
        users: dict[str, list[DemoUser]] = {}
        for row in conn.execute(_Q["demo_users"]).fetchall():
            users.setdefault(row["role"], []).append(
                DemoUser(row["id"], row["email"], row["name"], row["role"])
            )
        counts = conn.execute(_Q["demo_counts"]).fetchone() or {}
    return DemoTenant(
        tenant_id=tenant_id,
        name=name,
        seed=seed,
        users={role: tuple(found) for role, found in users.items()},
        counts={**{key: int(value) for key, value in counts.items()}, **extra},
    )


@dataclass
class _Execution:
    id: UUID
    customer: books.Customer
    customer_id: UUID
    workflow: str
    step: str | None


class _Loader:
    def __init__(
        self, database: Database, tenant_id: UUID, name: str, book: books.Book, domain: str
    ) -> None:
        self.database = database
        self.tenant_id = tenant_id
        self.name = name
        self.book = book
        self.domain = domain
        self.admin: UUID | None = None
        self.csms: list[UUID] = []
        self.failed_steps = 0
        self.by_external = {c.external_id: c for c in book.customers}

    def transaction(self) -> AbstractContextManager[Connection]:
        return self.database.tenant_transaction(self.tenant_id, self.admin)

    def run(self) -> DemoTenant:
        with self.transaction() as conn:
            today = self._today(conn)[0]
            self._users(conn)
            for customer in self.book.customers:
                self._customer(conn, customer, today)
        with self.transaction() as conn:
            engine.sweep(conn)
        self._run_steps()
        task_counts = self._tasks()
        with self.transaction() as conn:
            engine.fire_scheduled_notifications(conn)
        return _describe(
            self.database,
            self.tenant_id,
            self.name,
            self.book.seed,
            failed_steps=self.failed_steps,
            **task_counts,
        )

    # -- people and customers --------------------------------------------------------------------

    def _today(self, conn: Connection) -> tuple[date, datetime]:
        row = conn.execute(_Q["tenant_today"]).fetchone()
        assert row is not None
        return row["today"], row["now"]

    def _users(self, conn: Connection) -> None:
        def user(person: books.Person, role: accounts.Role) -> UUID:
            created = accounts.create_user(
                conn, email=person.email(self.domain), role=role, name=person.name
            )
            user_id: UUID = created["id"]
            return user_id

        self.admin = user(books.ADMIN, accounts.Role.ADMIN)
        manager = user(books.MANAGER, accounts.Role.MANAGER)
        self.csms = [user(person, accounts.Role.CSM) for person in books.CSMS]
        profiles = [
            (self.admin, "Revenue Operations Lead", None),
            (manager, "Director of Customer Success", None),
            *((csm, "Customer Success Manager", manager) for csm in self.csms),
        ]
        for user_id, title, manager_id in profiles:
            conn.execute(
                _Q["set_user_profile"],
                {"user_id": user_id, "title": title, "manager_id": manager_id},
            )

    def _customer(self, conn: Connection, customer: books.Customer, today: date) -> None:
        renewal = today + timedelta(days=customer.days)
        team: dict[str, str] = {"ae": books.AES[customer.ae].email(self.domain)}
        if customer.sa is not None:
            team["sa"] = books.SAS[customer.sa].email(self.domain)
        if customer.arr >= 250_000:
            team["executiveSponsor"] = books.VP.email(self.domain)
        engagement: dict[str, Any] = {"supportTickets": customer.support_tickets}
        if customer.last_meeting_days_ago is not None:
            meeting = today - timedelta(days=customer.last_meeting_days_ago)
            engagement["lastMeeting"] = meeting.isoformat()
        if customer.nps is not None:
            engagement["nps"] = customer.nps
        customer_id, _ = context.upsert_customer(
            conn,
            context.CustomerIn.model_validate(
                {
                    "name": customer.name,
                    "externalId": customer.external_id,
                    "arr": customer.arr,
                    "renewalDate": renewal,
                    "contractStartDate": renewal - timedelta(days=customer.term_days),
                    "csmEmail": books.CSMS[customer.csm].email(self.domain),
                    "domain": customer.domain,
                    "industry": customer.industry,
                    "tier": customer.tier,
                    "segment": customer.segment,
                    "hasAccountPlan": customer.has_account_plan,
                    "healthScore": customer.health_score,
                    "accountTeam": team,
                    "engagement": engagement,
                    "crm": {
                        "opportunityStage": customer.opportunity_stage,
                        "opportunityId": f"006DEMO{customer.external_id[-4:]}",
                    },
                }
            ),
        )
        for contact in customer.contacts:
            context.add_contact(
                conn,
                customer_id,
                context.ContactIn(
                    name=contact.name,
                    email=contact.email,
                    title=contact.title,
                    role=contact.role,
                    isPrimary=contact.primary,
                ),
            )
        # weekly, the latest yesterday's
        context.record_usage(
            conn,
            customer_id,
            [
                context.UsageIn(
                    metricName=metric,
                    metricDate=today - timedelta(days=1 + 7 * (books.WEEKS - 1 - week)),
                    value=Decimal(value),
                )
                for metric, values in customer.usage.items()
                for week, value in enumerate(values)
            ],
        )
        context.set_intelligence(
            conn,
            customer_id,
            context.IntelligenceIn(
                riskScore=customer.risk,
                sentiment=customer.sentiment,
                aiSummary=customer.summary,
                insights=list(customer.insights),
            ),
        )

    # -- executions and steps --------------------------------------------------------------------

    def _executions(self) -> list[_Execution]:
        with self.transaction() as conn:
            rows = conn.execute(_Q["active_executions"]).fetchall()
        return [
            _Execution(
                row["id"],
                self.by_external[row["external_id"]],
                row["customer_id"],
                row["workflow_id"],
                row["current_step_id"],
            )
            for row in rows
            if row["external_id"] in self.by_external
        ]

    def _run_steps(self) -> None:
        """Runs the first steps of a few executions of each workflow (`STEP_RUNS`), as the
        admin, with the tenant's provider (the mock): the story accounts first; a customer
        whose first step lacks the data it requires is passed over for the next one."""
        steps = {config.id: config.steps for config in core_library()}
        by_workflow: dict[str, list[_Execution]] = {}
        for execution in self._executions():
            by_workflow.setdefault(execution.workflow, []).append(execution)
        clients = LLMClients()
        runner = engine.StepRunner(self.database, clients)
        try:
            for workflow, plan in STEP_RUNS.items():
                candidates = sorted(
                    by_workflow.get(workflow, []), key=lambda e: not e.customer.story
                )
                counts = iter(plan)
                count = next(counts, None)
                for execution in candidates:
                    if count is None:
                        break
                    if self._run(runner, steps[workflow], execution, count) > 0:
                        count = next(counts, None)
        finally:
            runner.close()
            clients.close()

    def _run(
        self,
        runner: engine.StepRunner,
        steps: Sequence[Step],
        execution: _Execution,
        count: int,
    ) -> int:
        """Runs up to `count` steps of one execution; returns how many completed."""
        request = engine.StepRequest(actor_role="admin", actor_user_id=self.admin)
        by_id = {step.id: step for step in steps}
        step_id, done = execution.step, 0
        while done < count:
            step = by_id.get(step_id or "")
            # an approval waits for a person; a processor would record terms or an outcome; the
            # last step would complete the execution, and the next sweep start its workflow again
            if step is None or step.id == steps[-1].id:
                break
            if step.type == "approval" or step.execution.processor:
                break
            try:
                answer = runner.run(
                    self.transaction, execution_id=execution.id, step_id=step.id, request=request
                )
            except InvalidInputError as refused:  # the step requires data this customer lacks
                log.info("demo: %s: %s not run: %s", execution.customer.name, step.id, refused)
                break
            if answer.status != 200:
                self.failed_steps += 1
                log.warning(
                    "demo: %s: step %s failed: %s",
                    execution.customer.name,
                    step.id,
                    answer.body.get("detail"),
                )
                break
            done += 1
            step_id = (answer.body.get("nextStep") or {}).get("stepId")
        return done

    # -- the action plan -------------------------------------------------------------------------

    def _tasks(self) -> dict[str, int]:
        """CSM tasks in every state, for each CSM's own customers; returns how many of each."""
        executions = [e for e in self._executions() if e.workflow in _TASK_STAGES]
        executions.sort(key=lambda e: (_TASK_STAGES.index(e.workflow), e.customer.external_id))
        made: dict[str, int] = {}
        with self.transaction() as conn:
            today, now = self._today(conn)
            for number, csm in enumerate(self.csms):
                own = [e for e in executions if e.customer.csm == number]
                plan = _TASK_PLAN if number == 0 else _TASK_PLAN[:5]
                for (action, status, due, priority), execution in zip(plan, own, strict=False):
                    task = tasks.create_task(
                        conn,
                        tasks.TaskCreate(
                            workflow_execution_id=execution.id,
                            customer_id=execution.customer_id,
                            task_type=tasks.TaskType.CSM_TASK,
                            owner=tasks.Owner.CSM,
                            action=action.format(customer=execution.customer.name),
                            description=_describe_task(action, execution.customer),
                            priority=priority,
                            status=(
                                tasks.Status.IN_PROGRESS
                                if status == "in_progress"
                                else tasks.Status.PENDING
                            ),
                            assigned_to=csm,
                            due_date=today + timedelta(days=due),
                            metadata={"source": "demo"},
                        ),
                    )
                    final = self._move(conn, task.id, status, now)
                    made[f"tasks_{final}"] = made.get(f"tasks_{final}", 0) + 1
        return made

    def _move(self, conn: Connection, task_id: UUID, status: str, now: datetime) -> str:
        if status == "snoozed":
            tasks.snooze_task(conn, task_id, now + timedelta(hours=18))
        elif status == "decision":
            # the shortest snooze window there is: its deadline has passed as soon as this
            # transaction ends, and the task asks its CSM for a decision (complete, skip, cancel)
            window = timedelta(microseconds=1)
            tasks.snooze_task(conn, task_id, now + window, deadline_after=window)
        elif status == "completed":
            tasks.complete_task(conn, task_id)
        elif status == "skipped":
            tasks.skip_task(conn, task_id, "Customer declined: no capacity this quarter")
        elif status == "cancelled":
            tasks.cancel_task(conn, task_id)
        return "snoozed" if status == "decision" else status


# (action, final state, due in days, priority): `decision` is a snooze past its deadline.
_TASK_PLAN: tuple[tuple[str, str, int, int], ...] = (
    ("Confirm the budget owner at {customer}", "pending", 0, 2),
    ("Send the renewal proposal to {customer}", "pending", -3, 1),
    ("Prepare the QBR deck for {customer}", "in_progress", 4, 3),
    ("Follow up on the support escalation at {customer}", "snoozed", 2, 3),
    ("Decide on the discount request from {customer}", "decision", 1, 2),
    ("Log the kickoff notes for {customer}", "completed", -5, 4),
    ("Invite {customer} to the customer advisory board", "skipped", 10, 5),
    ("Book an onsite visit at {customer}", "cancelled", 20, 4),
)


def _describe_task(action: str, customer: books.Customer) -> str:
    champion = next((c for c in customer.contacts if c.role == "champion"), None)
    contact = champion or customer.contacts[0]
    return (
        f"{action.format(customer=customer.name)}. Main contact: {contact.name} "
        f"({contact.title}). Risk score {customer.risk}, usage {customer.trend}."
    )
