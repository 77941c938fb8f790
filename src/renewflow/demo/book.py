"""The demo book of business, generated from a seed: pure data, no database, no clock.

Everything is relative to "today" (days until renewal, weeks of usage back from yesterday), so the
same seed gives the same book whatever the day; the loader turns the offsets into dates.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

# Every core workflow's days-until-renewal range (src/renewflow/workflows/library), with how many
# customers of the book fall in it: most accounts are in the quiet months, a handful in the last
# weeks, a dozen overdue.
STAGES: tuple[tuple[str, int, int, int], ...] = (
    ("monitor", 150, 365, 78),
    ("prepare", 120, 149, 22),
    ("engage", 60, 119, 36),
    ("negotiate", 30, 59, 22),
    ("finalize", 15, 29, 14),
    ("critical", 7, 14, 9),
    ("emergency", 0, 6, 7),
    ("overdue", -90, -1, 12),
)
# The overdue accounts sit on the escalation ladder's days (7, 8, 15, 22 and 30 days late) and
# around them, so the overdue notifications all have an example.
OVERDUE_DAYS = (-1, -3, -7, -8, -12, -15, -22, -30, -41, -55, -70, -88)

WEEKS = 26
METRICS = ("active_users", "logins", "seats_used")
HIGH_RISK = 75

# The accounts the story is about: (stage, position in the stage) -> risk score. All declining,
# close to renewal (and two overdue); the 72 in monitor is 160 days out, inside the month before
# Prepare, where its early trigger (risk >= 70) starts preparation ahead of time.
STORY: dict[tuple[str, int], int] = {
    ("negotiate", 0): 78,
    ("finalize", 0): 81,
    ("critical", 0): 88,
    ("critical", 1): 76,
    ("emergency", 0): 92,
    ("emergency", 1): 84,
    ("overdue", 2): 86,
    ("overdue", 5): 79,
}
# The flagship accounts, near the top of the ARR range: one healthy, one in the renewal cycle.
FLAGSHIPS = frozenset({("monitor", 1), ("engage", 0)})
EARLY_TRIGGER_RISK = 72
EARLY_TRIGGER_DAYS = 160


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_PREFIXES = _names(
    "Northwind Bluepeak Crescent Ironwood Lumen Brightline Cobalt Summit Harbor Redwood "
    "Silverline Granite Evergreen Polaris Copperleaf Skyward Meridian Oakridge Pinecrest "
    "Riverbend Stonegate Sunfield Tidewater Westbrook Amberly Beacon Cedarline Driftwood Elmstead "
    "Foxglove Goldcrest Highmark Juniper Keystone Larkspur Mapleton Nimbus Orchard Parkside "
    "Quarry Ridgeway Saltmarsh Thornbury Upland Vantage Willowby Yarrow Zephyr Alder Birchwood "
    "Canyon Deltaview Ember Fjord Glacier Hollow Indigo Jasper Kestrel Lantern"
)
_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Software": ("Analytics", "Software", "Labs", "Cloud", "Systems"),
    "Logistics": ("Logistics", "Freight", "Shipping"),
    "Healthcare": ("Health", "Clinics", "Medical"),
    "Financial Services": ("Capital", "Financial", "Bancorp"),
    "Retail": ("Retail", "Outfitters", "Markets"),
    "Manufacturing": ("Manufacturing", "Industries", "Works"),
    "Education": ("Learning", "Academy"),
    "Media": ("Media", "Studios"),
    "Energy": ("Energy", "Power"),
    "Hospitality": ("Hotels", "Hospitality"),
}
_FIRST = _names(
    "Dana Ravi Chloe Mateo Aiko Omar Grace Lukas Fatima Ethan Sofia Jonas Amara Leo Hannah Kofi "
    "Isabel Daniel Yuki Marta Samuel Nadia Victor Emma Tariq Olivia Felix Lina Caleb Zara"
)
_LAST = _names(
    "Smith Patel Nguyen Garcia Tanaka Haddad Kim Schneider Rahman Brooks Costa Lindqvist Okoye "
    "Moreau Weber Mensah Alvarez Cohen Sato Novak Adeyemi Petrov Duarte Larsen Hughes Bauer "
    "Romero Ito Kowalski Reyes"
)
_TITLES: dict[str, tuple[str, ...]] = {
    "economic buyer": (
        "VP Operations",
        "Chief Operating Officer",
        "VP Sales",
        "Head of Customer Experience",
    ),
    "champion": ("Operations Manager", "Director of Analytics", "Team Lead", "Program Manager"),
    "admin": ("Systems Administrator", "IT Manager"),
    "CFO": ("Chief Financial Officer",),
    "procurement": ("Procurement Manager", "Vendor Manager"),
    "end user": ("Analyst", "Coordinator", "Specialist"),
    "executive sponsor": ("Chief Executive Officer", "SVP Strategy"),
}
_EXTRA_ROLES = ("admin", "CFO", "procurement", "end user", "executive sponsor")
_OPPORTUNITY_STAGES: dict[str, tuple[str, ...]] = {
    "monitor": ("Not started",),
    "prepare": ("Discovery",),
    "engage": ("Discovery", "Qualification"),
    "negotiate": ("Proposal", "Negotiation"),
    "finalize": ("Negotiation", "Contract Sent"),
    "critical": ("Contract Sent", "Legal Review"),
    "emergency": ("Legal Review", "Verbal Commit"),
    "overdue": ("Pending Signature", "Verbal Commit"),
}


Sentiment = Literal["positive", "neutral", "negative"]


@dataclass(frozen=True)
class Person:
    """Someone of the vendor's own company."""

    name: str
    local: str  # the email's local part

    def email(self, domain: str) -> str:
        return f"{self.local}@{domain}"


# The vendor's team. Users of the tenant: an admin, a manager, three CSMs reporting to her. The
# account executives and solutions architects, the VP and the CEO are addresses only.
ADMIN = Person("Jordan Avery", "jordan.avery")
MANAGER = Person("Priya Raman", "priya.raman")
CSMS = (
    Person("Sarah Chen", "sarah.chen"),
    Person("Marcus Okafor", "marcus.okafor"),
    Person("Elena Rossi", "elena.rossi"),
)
AES = (
    Person("Lena Fischer", "lena.fischer"),
    Person("Tom Becker", "tom.becker"),
    Person("Aisha Khan", "aisha.khan"),
    Person("David Park", "david.park"),
)
SAS = (Person("Noah Williams", "noah.williams"), Person("Mei Tanaka", "mei.tanaka"))
VP = Person("Morgan Hale", "morgan.hale")
CEO = Person("Alex Rivera", "alex.rivera")
WAR_ROOM = "war-room"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    title: str
    role: str
    primary: bool


@dataclass(frozen=True)
class Customer:
    """One account, every date an offset from today."""

    external_id: str
    name: str
    domain: str
    industry: str
    tier: str
    segment: str
    arr: Decimal
    stage: str  # the core workflow its days fall in
    days: int  # until renewal (negative: overdue)
    term_days: int  # the contract's length
    csm: int  # index into CSMS
    ae: int  # index into AES
    sa: int | None  # index into SAS
    has_account_plan: bool
    contacts: tuple[Contact, ...]
    trend: str  # growing, flat or declining
    usage: dict[str, tuple[int, ...]]  # metric -> WEEKS weekly values, oldest first
    risk: int
    sentiment: Sentiment
    summary: str
    insights: tuple[str, ...]
    health_score: int
    last_meeting_days_ago: int | None  # None: no meeting on record (missing data)
    support_tickets: int
    nps: int | None
    opportunity_stage: str
    story: bool = False  # one of the accounts the demo is about
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def high_risk(self) -> bool:
        return self.risk >= HIGH_RISK


@dataclass(frozen=True)
class Book:
    seed: int
    customers: tuple[Customer, ...]

    def summary(self) -> list[tuple[str, str, int, str]]:
        """What identifies the book: (name, ARR, days until renewal, stage) of every customer."""
        return [(c.name, str(c.arr), c.days, c.stage) for c in self.customers]


def generate_book(seed: int = 7) -> Book:
    """The book of `seed`: about 200 customers over every stage, from `random.Random(seed)`."""
    # reproducible on purpose: the same seed is the same book (nothing here is a secret)
    rng = random.Random(seed)  # noqa: S311
    names: set[str] = set()
    customers: list[Customer] = []
    for stage, low, high, count in STAGES:
        for position, drawn in enumerate(_stage_days(rng, stage, low, high, count)):
            days, story_risk = drawn, STORY.get((stage, position))
            if stage == "monitor" and position == 0:
                days, story_risk = EARLY_TRIGGER_DAYS, EARLY_TRIGGER_RISK
            customers.append(
                _customer(
                    rng,
                    number=len(customers) + 1,
                    stage=stage,
                    days=days,
                    story_risk=story_risk,
                    flagship=(stage, position) in FLAGSHIPS,
                    names=names,
                )
            )
    return Book(seed, tuple(customers))


def domain_of(tenant_name: str) -> str:
    """The vendor's email domain for a demo tenant: `Demo CS` -> `demo-cs.example`."""
    slug = re.sub(r"[^a-z0-9]+", "-", tenant_name.lower()).strip("-")[:40].strip("-")
    return f"{slug or 'demo'}.example"


def _stage_days(rng: random.Random, stage: str, low: int, high: int, count: int) -> list[int]:
    if stage == "overdue":
        return list(OVERDUE_DAYS[:count])
    days = [rng.randint(low, high) for _ in range(count)]
    # both ends of the range are in the book (the sweep's boundaries are where bugs live)
    days[-1], days[-2] = low, high
    return days


def _arr(rng: random.Random) -> Decimal:
    # many small accounts, a few large: a Pareto tail from 5k (median about 11k, one account in
    # eight above 50k, one in thirty above 250k), drawn again above 1M
    while (value := 5_000 * (1 - rng.random()) ** (-1 / 0.85)) > 1_000_000:
        pass
    return Decimal(round(value / 500) * 500)


def _customer(
    rng: random.Random,
    *,
    number: int,
    stage: str,
    days: int,
    story_risk: int | None,
    flagship: bool,
    names: set[str],
) -> Customer:
    industry = rng.choice(sorted(_INDUSTRIES))
    while True:
        name = f"{rng.choice(_PREFIXES)} {rng.choice(_INDUSTRIES[industry])}"
        if name not in names:
            names.add(name)
            break
    domain = re.sub(r"[^a-z0-9]+", "-", name.lower()) + ".example"
    arr = _arr(rng)
    if story_risk is not None:
        arr = max(arr, Decimal(rng.randrange(90_000, 420_000, 500)))  # the accounts that matter
    if flagship:
        arr = Decimal(rng.randrange(800_000, 1_000_001, 500))
    tier = (
        "Platinum"
        if arr >= 250_000
        else "Gold"
        if arr >= 75_000
        else "Silver"
        if arr >= 20_000
        else "Bronze"
    )
    segment = "Enterprise" if arr >= 150_000 else "Mid-Market" if arr >= 30_000 else "SMB"
    if story_risk is not None:
        trend = "declining"
    else:
        trend = rng.choices(("growing", "flat", "declining"), weights=(45, 30, 25))[0]
    contacts = _contacts(rng, domain, segment, story_risk is not None and rng.random() < 0.4)
    usage = _usage(rng, arr, tier, trend, steep=story_risk is not None)
    if story_risk is not None:
        risk = story_risk
    else:
        risk = {
            "growing": rng.randint(8, 38),
            "flat": rng.randint(28, 55),
            "declining": rng.randint(45, 72),
        }[trend]
    sentiment: Sentiment = "positive" if risk < 35 else "neutral" if risk < 60 else "negative"
    change = _four_week_change(usage)
    champion = next((c for c in contacts if c.role == "champion"), None)
    last_meeting: int | None = {
        "growing": rng.randint(4, 30),
        "flat": rng.randint(14, 60),
        "declining": rng.randint(30, 120),
    }[trend]
    if rng.random() < 0.08:
        last_meeting = None
    tickets = rng.randint(0, 3) + (rng.randint(2, 6) if trend == "declining" else 0)
    return Customer(
        external_id=f"DEMO-{number:04d}",
        name=name,
        domain=domain,
        industry=industry,
        tier=tier,
        segment=segment,
        arr=arr,
        stage=stage,
        days=days,
        term_days=730 if rng.random() < 0.15 else 365,
        csm=(number - 1) % len(CSMS) if story_risk is not None else rng.randrange(len(CSMS)),
        ae=rng.randrange(len(AES)),
        sa=rng.randrange(len(SAS)) if arr >= 50_000 else None,
        has_account_plan=rng.random() < (0.9 if arr >= 100_000 else 0.15),
        contacts=contacts,
        trend=trend,
        usage=usage,
        risk=risk,
        sentiment=sentiment,
        summary=_summary(rng, name=name, trend=trend, change=change, champion=champion, risk=risk),
        insights=_insights(
            rng, trend=trend, change=change, tickets=tickets, champion=champion, arr=arr
        ),
        health_score=max(0, min(100, 100 - risk + rng.randint(-5, 5))),
        last_meeting_days_ago=last_meeting,
        support_tickets=tickets,
        nps=rng.randint(-20, 70) if rng.random() < 0.6 else None,
        opportunity_stage=(
            "Stalled"
            if story_risk is not None and stage in ("critical", "emergency", "overdue")
            else rng.choice(_OPPORTUNITY_STAGES[stage])
        ),
        story=story_risk is not None,
    )


def _contacts(
    rng: random.Random, domain: str, segment: str, no_champion: bool
) -> tuple[Contact, ...]:
    extra = {"SMB": (0, 1), "Mid-Market": (1, 2), "Enterprise": (2, 4)}[segment]
    roles = ["economic buyer"] + ([] if no_champion else ["champion"])
    roles += rng.sample(_EXTRA_ROLES, rng.randint(*extra))
    primary = "economic buyer" if no_champion else "champion"
    used: set[str] = set()
    contacts = []
    for role in roles:
        while True:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            if f"{first} {last}" not in used:
                used.add(f"{first} {last}")
                break
        contacts.append(
            Contact(
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}@{domain}",
                title=rng.choice(_TITLES[role]),
                role=role,
                primary=role == primary,
            )
        )
    return tuple(contacts)


def _usage(
    rng: random.Random, arr: Decimal, tier: str, trend: str, *, steep: bool
) -> dict[str, tuple[int, ...]]:
    price = {"Platinum": 650, "Gold": 550, "Silver": 450, "Bronze": 380}[tier]
    seats = max(5, round(float(arr) / price))
    weekly = {
        "growing": rng.uniform(0.008, 0.022),
        "flat": rng.uniform(-0.002, 0.002),
        "declining": -rng.uniform(0.03, 0.045) if steep else -rng.uniform(0.012, 0.03),
    }[trend]
    noise = 0.006 if trend == "flat" else 0.015
    # a declining account was well adopted six months ago; a growing one is still ramping up
    start = seats * {"growing": rng.uniform(0.5, 0.7), "flat": rng.uniform(0.7, 0.85)}.get(
        trend, rng.uniform(0.85, 0.98)
    )
    ratio, per_user = rng.uniform(0.7, 0.9), rng.uniform(3.5, 6.0)
    series: dict[str, list[int]] = {name: [] for name in METRICS}
    for week in range(WEEKS):
        used = min(seats * 1.1, start * (1 + weekly) ** week * (1 + rng.uniform(-noise, noise)))
        active = used * ratio * (1 + rng.uniform(-noise, noise))
        series["seats_used"].append(max(1, round(used)))
        series["active_users"].append(max(1, round(active)))
        series["logins"].append(max(1, round(active * per_user * (1 + rng.uniform(-noise, noise)))))
    return {name: tuple(values) for name, values in series.items()}


def _four_week_change(usage: dict[str, tuple[int, ...]]) -> float:
    now = sum(values[-1] for values in usage.values())
    then = sum(values[-5] for values in usage.values())
    return round((now - then) / then * 100, 1)


def _summary(
    rng: random.Random,
    *,
    name: str,
    trend: str,
    change: float,
    champion: Contact | None,
    risk: int,
) -> str:
    who = f"{champion.name} ({champion.title})" if champion else "no champion on record"
    if trend == "growing":
        return rng.choice(
            (
                f"Adoption at {name} keeps growing ({change:+g}% in four weeks); {who} is "
                "pushing for a wider rollout.",
                f"{name} is expanding usage ({change:+g}% in four weeks) and {who} asks about "
                "more seats.",
            )
        )
    if trend == "flat":
        return (
            f"Usage at {name} is steady ({change:+g}% in four weeks); {who} is engaged but no "
            "expansion is planned."
        )
    if risk >= HIGH_RISK:
        return (
            f"Usage at {name} is falling fast ({change:+g}% in four weeks), the economic buyer "
            f"has gone quiet and {who}: renewal at serious risk."
        )
    return (
        f"Usage at {name} is slipping ({change:+g}% in four weeks); {who} reports budget "
        "scrutiny ahead of the renewal."
    )


def _insights(
    rng: random.Random,
    *,
    trend: str,
    change: float,
    tickets: int,
    champion: Contact | None,
    arr: Decimal,
) -> tuple[str, ...]:
    found = [f"Four-week usage change {change:+g}%"]
    if tickets >= 4:
        found.append(f"{tickets} support tickets open, two of them escalated")
    if champion is None:
        found.append("No champion identified")
    elif trend == "declining" and rng.random() < 0.5:
        found.append(f"{champion.name} changed roles last quarter")
    if trend == "growing" and arr >= 50_000:
        found.append("Expansion interest from a second department")
    if rng.random() < 0.3:
        found.append("Executive business review overdue")
    return tuple(found)
