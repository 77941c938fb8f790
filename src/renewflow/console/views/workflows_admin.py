"""The workflows admin (admins and managers): core and own workflows, the draft editor, publishing,
versions with a side-by-side diff of any two, rollback, export, and overrides of core workflows.

Every change is the workflows service's (`save_draft`, `publish`, `rollback`, `create_workflow`),
with the ETag it needs carried by the forms, as the API carries it in If-Match. The console only
reads the editor's text into data and shows what the service answers: the errors at their JSON
path (with the line of the text they point at), and the warnings for the spec's key names.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import yaml
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from renewflow.accounts import Role
from renewflow.console.web import Console, ConsoleDep, ConsoleRoute
from renewflow.db import Connection, load_queries
from renewflow.errors import NotFoundError
from renewflow.limits import field_path, json_problem
from renewflow.nul import MESSAGE as NUL_MESSAGE
from renewflow.nul import find_nul
from renewflow.workflows import jsonpatch, service
from renewflow.workflows.errors import ValidationFailed, WorkflowConflict, WorkflowFileError
from renewflow.workflows.files import dump_document, parse_document
from renewflow.workflows.service import ETag
from renewflow.workflows.validator import ValidationIssue, errors_in

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_Q = load_queries("renewflow.console", "workflows_admin.sql")

EDITORS = (Role.ADMIN, Role.MANAGER)
FORMATS = ("yaml", "json")
MEDIA_TYPES = {"yaml": "application/yaml", "json": "application/json"}
# A workflow file is a few hundred lines; this bounds what one form post makes the server parse.
MAX_DRAFT_CHARS = 1_000_000
MAX_DESCRIPTION = 500
CONTEXT_LINES = 3


# --- the editor's text ---------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """YAML as the core library is written: lists indented under their key, prompts and other
    multi-line text as literal blocks (PyYAML falls back to quotes where a block cannot hold it)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_Dumper.add_representer(str, _represent_text)


def _ordered(config: Any) -> Any:
    """A config in the model's key order (jsonb keeps keys shortest first), when it fits the
    model; anything else (a draft in progress) as it is stored."""
    try:
        return service.normalized(config)
    except (ValueError, TypeError):
        return config


def _text(config: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    text: str = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


class _Unreadable(Exception):
    """The editor's text is not a config the service can store: nothing was saved."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _has_alias(text: str) -> bool:
    """Whether YAML text uses an alias (`*name`): a few lines of aliases can stand for an
    exponentially large document once it is written out as JSON."""
    try:
        return any(
            isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, yaml.SafeLoader)
        )
    except yaml.YAMLError:
        return False  # parse_document names the syntax error


def _not_json(value: Any, where: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str] | None:
    """Where YAML produced something JSON cannot hold (a date, a non-text key, a set...)."""
    if value is None or isinstance(value, str | bool | int | float):
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return where, f"the key {key!r} is not text: quote it"
            found = _not_json(item, (*where, key))
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _not_json(item, (*where, index))
            if found is not None:
                return found
        return None
    if isinstance(value, date | datetime):
        return where, f"{value} reads as a date, which JSON cannot hold: quote it"
    return where, f"a {type(value).__name__} is not a JSON value"


def _parse_draft(text: str, fmt: str) -> dict[str, Any]:
    if len(text) > MAX_DRAFT_CHARS:
        raise _Unreadable(f"the draft is longer than {MAX_DRAFT_CHARS:,} characters")
    if not text.strip():
        raise _Unreadable("the draft is empty: write the workflow's config in YAML or JSON")
    if fmt == "yaml" and _has_alias(text):
        raise _Unreadable("YAML aliases (*name) are not accepted: write each value out")
    name = f"draft.{fmt}"
    try:
        data = parse_document(text, name)
    except WorkflowFileError as error:
        raise _Unreadable(str(error).removeprefix(f"{name}: ")) from None
    if not isinstance(data, dict):
        kind = "nothing" if data is None else f"a {type(data).__name__}"
        raise _Unreadable(f"the draft must be a mapping of keys (id, name, steps...), not {kind}")
    problem = _not_json(data, ())
    if problem is not None:
        where, message = problem
        raise _Unreadable(f"{field_path(where)}: {message}" if where else message)
    unfit = json_problem(data)
    if unfit is not None:
        raise _Unreadable(unfit)
    nul = find_nul(data)
    if nul is not None:
        raise _Unreadable(f"{field_path(nul)}: {NUL_MESSAGE}" if nul else NUL_MESSAGE)
    return data


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _segments(path: str) -> list[str | int]:
    """`steps[2].routing.routes[0]` -> ["steps", 2, "routing", "routes", 0]."""
    out: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        for index in rest.rstrip("]").split("][") if rest else ():
            out.append(int(index) if index.isdigit() else index)
    return out


def _line(tree: yaml.Node | None, path: str) -> int | None:
    """The line of the text where `path` is, or the nearest enclosing value that exists (a
    missing key is reported at the object that lacks it)."""
    if tree is None or not path:
        return None
    node: yaml.Node = tree
    line = node.start_mark.line
    for segment in _segments(path):
        if isinstance(node, yaml.MappingNode) and isinstance(segment, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == segment:
                    line, node = key.start_mark.line, value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(segment, int):
            if segment >= len(node.value):
                break
            node = node.value[segment]
            line = node.start_mark.line
        else:
            break
    return line + 1


@dataclass
class Editor:
    """What the draft editor shows: its text, and what the service said about it."""

    text: str
    format: str = "yaml"
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # "refused": the text was not saved, or not published; "pending": what publishing the
    # stored draft would reject
    errors_are: str = "pending"
    message: str | None = None
    change_description: str = ""
    description_error: str | None = None


def _rows(issues: Iterable[tuple[str, str]], text: str) -> list[dict[str, Any]]:
    tree = _compose(text)
    return [
        {"path": path, "message": message, "line": _line(tree, path)} for path, message in issues
    ]


def _issue_pairs(issues: Iterable[ValidationIssue]) -> list[tuple[str, str]]:
    return [(issue.path, issue.message) for issue in issues]


def _publish_errors(error: ValidationFailed) -> list[tuple[str, str]]:
    """The service's paths are under `draft.config`; the editor holds the config itself."""
    prefix = "draft.config"
    return [
        (path.removeprefix(prefix).removeprefix("."), message)
        if path.startswith(prefix)
        else (path, message)
        for path, message in error.errors
    ]


# --- reading ---------------------------------------------------------------------------------------


def _names(conn: Connection, ids: Iterable[UUID | None]) -> dict[UUID, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = conn.execute(_Q["user_names"], {"ids": wanted}).fetchall()
    return {row["id"]: row["name"] for row in rows}


def _days(value: Any) -> tuple[int, int] | None:
    if (
        isinstance(value, dict)
        and isinstance(value.get("min"), int)
        and isinstance(value.get("max"), int)
    ):
        return value["min"], value["max"]
    return None


def _range_text(days: tuple[int, int] | None) -> str:
    if days is None:
        return "—"
    low, high = days
    if low >= 0:
        return f"{low} to {high} days before renewal"
    if high < 0:
        return f"{-high} to {-low} days overdue"
    return f"{-low} days overdue to {high} days before renewal"


def _kind(row: dict[str, Any]) -> str:
    if row["is_core"]:
        return "core"
    return "override" if row["overrides_core"] else "own"


def _draft_state(row: dict[str, Any], draft: Any) -> dict[str, Any] | None:
    if draft is None:
        return None
    errors = errors_in(service.check_config(draft, row["workflow_id"]))
    return {
        "errors": len(errors),
        "same": jsonpatch.same(draft, row["config"]) if "config" in row else False,
    }


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit() or len(value.strip()) > 9:
        return None
    return int(value)


def _format(value: str | None) -> str:
    return value if value in FORMATS else "yaml"


def _url(path: str, **params: Any) -> str:
    kept = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(kept)}" if kept else path


def _href(workflow_id: str, tail: str = "") -> str:
    # workflow ids are kebab-case slugs (the validator's pattern): safe in a path as they are
    return f"/admin/workflows/{workflow_id}{tail}"


@router.get("/admin/workflows")
def workflows(console: ConsoleDep) -> HTMLResponse:
    console.require(*EDITORS)
    tenant = console.user.tenant_id
    with console.transaction() as conn:
        rows = service.list_workflows(conn, tenant)
        details = {row["id"]: row for row in conn.execute(_Q["workflow_details"]).fetchall()}
    items = []
    for row in rows:
        detail = details.get(row["id"], {})
        days = _days(detail.get("days"))
        draft = detail.get("draft_config")
        state = None
        if draft is not None:
            errors = errors_in(service.check_config(draft, row["workflow_id"]))
            state = {
                "errors": len(errors),
                "same": jsonpatch.same(draft, detail.get("config")),
                "updated_at": detail.get("draft_updated_at"),
            }
        items.append(
            {**row, "kind": _kind(row), "days": days, "range": _range_text(days), "draft": state}
        )
    # The renewal timeline: the earliest playbook (most days before renewal) first.
    items.sort(key=lambda i: (i["days"] is None, -(i["days"] or (0, 0))[1], i["workflow_id"]))
    return console.page("workflows.html", workflows=items)


_NOTICES = {
    "override": (
        "Your tenant now has its own copy of this core workflow (an override), published "
        "unchanged as version 1, and a draft of it in the editor below: change the draft and "
        "publish it. Other tenants keep the core workflow."
    ),
    "unchanged": (
        "The draft was the same as the published config: it was cleared, and no version was "
        "written."
    ),
}


def _notice(
    console: Console, row: dict[str, Any], versions: list[dict[str, Any]]
) -> dict[str, Any] | None:
    done = console.request.query_params.get("done")
    current = row["current_version"]
    if done in _NOTICES:
        return {"text": _NOTICES[done], "diff": None}
    if done in ("published", "rolled-back") and current:
        latest = versions[-1] if versions else None
        what = "Published" if done == "published" else "Rolled back: published"
        text = f"{what} version {current}"
        if latest and latest["change_description"]:
            text += f" ({latest['change_description']})"
        mapped = _int(console.request.query_params.get("mapped"))
        if mapped:
            text += (
                f". {mapped} of the spec's key names were read as ours; the published config "
                "uses ours"
            )
        diff = (
            _url(_href(row["workflow_id"], "/diff"), **{"from": current - 1, "to": current})
            if current > 1
            else None
        )
        return {"text": text + ".", "diff": diff}
    return None


def _detail(
    console: Console,
    workflow_id: str,
    *,
    editor: Editor | None = None,
    status: int = 200,
    fmt: str = "yaml",
) -> HTMLResponse:
    tenant = console.user.tenant_id
    with console.transaction() as conn:
        row = service.get_workflow(conn, tenant, workflow_id)
        versions = service.list_versions(conn, tenant, workflow_id)
        names = _names(
            conn, [v["changed_by"] for v in versions] + [row["draft_updated_by"], row["created_by"]]
        )
    draft = row["draft_config"]
    if editor is None:
        editor = Editor(_text(_ordered(draft if draft is not None else row["config"]), fmt), fmt)
        if draft is not None:
            found = errors_in(service.check_config(draft, workflow_id))
            editor.errors = _rows(_issue_pairs(found), editor.text)
    days = _days(row["config"].get("trigger", {}).get("daysUntilRenewal"))
    current = row["current_version"]
    return console.page(
        "workflow.html",
        status=status,
        wf=row,
        kind=_kind(row),
        range=_range_text(days),
        etag=str(ETag.of(row)),
        editor=editor,
        draft=_draft_state(row, draft),
        config_text=_text(_ordered(row["config"]), "yaml"),
        versions=list(reversed(versions)),
        names=names,
        notice=_notice(console, row, versions),
        href=_href(workflow_id),
        other_format="json" if editor.format == "yaml" else "yaml",
        compare_from=max(1, (current or 1) - 1),
        compare_to=current or 1,
    )


@router.get("/admin/workflows/{workflow_id}")
def workflow(console: ConsoleDep, workflow_id: str) -> HTMLResponse:
    console.require(*EDITORS)
    return _detail(console, workflow_id, fmt=_format(console.request.query_params.get("format")))


# --- writing ---------------------------------------------------------------------------------------


def _description(editor: Editor, value: str) -> str | None:
    value = value.strip()
    if "\x00" in value:
        editor.description_error = NUL_MESSAGE
    elif len(value) > MAX_DESCRIPTION:
        editor.description_error = f"must be at most {MAX_DESCRIPTION} characters"
    return value or None


DraftText = Annotated[str | None, Form()]
FormText = Annotated[str, Form()]


@router.post("/admin/workflows/{workflow_id}/draft")
def save_draft(
    console: ConsoleDep,
    workflow_id: str,
    *,
    etag: FormText = "",
    draft: DraftText = None,
    format: FormText = "yaml",
) -> HTMLResponse:
    console.require(*EDITORS)
    return _save(console, workflow_id, etag=etag, text=draft or "", fmt=_format(format))


def _save(console: Console, workflow_id: str, *, etag: str, text: str, fmt: str) -> HTMLResponse:
    expected = ETag.parse(etag, "etag")
    editor = Editor(text, fmt)
    try:
        data = _parse_draft(text, fmt)
    except _Unreadable as error:
        editor.errors = [{"path": "", "message": error.message, "line": None}]
        editor.errors_are = "refused"
        editor.message = "Not saved: the draft could not be read."
        return _detail(console, workflow_id, editor=editor, status=422)
    try:
        with console.transaction() as conn:
            saved = service.save_draft(
                conn,
                console.user.tenant_id,
                console.user.user_id,
                workflow_id=workflow_id,
                draft=data,
                expected=expected,
            )
    except WorkflowConflict as error:
        return _conflict(console, workflow_id, editor, error)
    editor.warnings = _rows(_issue_pairs(saved["warnings"]), text)
    found = errors_in(service.check_config(data, workflow_id))
    editor.errors = _rows(_issue_pairs(found), text)
    editor.message = (
        f"Draft saved. Publishing it would fail: fix the {len(found)} error"
        f"{'s' if len(found) > 1 else ''} below first."
        if found
        else "Draft saved. It is valid: publish it when you are ready."
    )
    return _detail(console, workflow_id, editor=editor)


def _conflict(
    console: Console, workflow_id: str, editor: Editor, error: WorkflowConflict
) -> HTMLResponse:
    editor.errors_are = "refused"
    editor.message = (
        "Not saved: someone changed this workflow since you opened it. Your text is below, "
        "unsaved. Saving it now replaces their change; to see theirs first, copy your text and "
        "open the workflow again."
    )
    editor.errors = [{"path": "", "message": error.message, "line": None}]
    return _detail(console, workflow_id, editor=editor, status=409)


@router.post("/admin/workflows/{workflow_id}/publish")
def publish(
    console: ConsoleDep,
    workflow_id: str,
    *,
    etag: FormText = "",
    draft: DraftText = None,
    format: FormText = "yaml",
    change_description: FormText = "",
) -> Response:
    """Saves the editor's text as the draft (when sent), then publishes the draft: two
    transactions, so that a draft the validator refuses is kept, unpublished."""
    console.require(*EDITORS)
    fmt = _format(format)
    tenant = console.user.tenant_id
    expected = ETag.parse(etag, "etag")
    editor = Editor(draft if draft is not None else "", fmt)
    description = _description(editor, change_description)
    editor.change_description = change_description
    warnings: list[ValidationIssue] = []
    before: int | None = None
    if editor.description_error:
        editor.errors_are = "refused"
        editor.message = "Not published: the change description cannot be used."
        return _detail(console, workflow_id, editor=editor, status=422)
    if draft is not None:
        try:
            data = _parse_draft(draft, fmt)
        except _Unreadable as error:
            editor.errors = [{"path": "", "message": error.message, "line": None}]
            editor.errors_are = "refused"
            editor.message = "Not saved, not published: the draft could not be read."
            return _detail(console, workflow_id, editor=editor, status=422)
        try:
            with console.transaction() as conn:
                saved = service.save_draft(
                    conn,
                    tenant,
                    console.user.user_id,
                    workflow_id=workflow_id,
                    draft=data,
                    expected=expected,
                )
        except WorkflowConflict as error:
            return _conflict(console, workflow_id, editor, error)
        expected = ETag.of(saved)
        warnings = saved["warnings"]
        before = saved["current_version"]
    try:
        with console.transaction() as conn:
            if draft is None:
                before = service.get_workflow(conn, tenant, workflow_id)["current_version"]
            published = service.publish(
                conn,
                tenant,
                workflow_id=workflow_id,
                expected=expected,
                change_description=description,
            )
    except ValidationFailed as error:
        if draft is None:
            raise
        editor.errors = _rows(_publish_errors(error), draft)
        editor.warnings = _rows(_issue_pairs(warnings), draft)
        editor.errors_are = "refused"
        count = len(error.errors)
        editor.message = (
            f"Not published: {count} error{'s' if count > 1 else ''}. Your draft is saved; fix "
            "it and publish again."
        )
        return _detail(console, workflow_id, editor=editor, status=422)
    except WorkflowConflict as error:
        if draft is None:
            raise
        return _conflict(console, workflow_id, editor, error)
    done = "published" if published["current_version"] != before else "unchanged"
    target = _url(_href(workflow_id), done=done, mapped=len(warnings) or None)
    return RedirectResponse(target, status_code=303)


@router.post("/admin/workflows/{workflow_id}/override")
def create_override(console: ConsoleDep, workflow_id: str) -> RedirectResponse:
    """The tenant's own copy of a core workflow (same id), published unchanged as version 1 so
    that nothing changes until a draft is published, and that config as the draft to edit."""
    console.require(*EDITORS)
    tenant, user = console.user.tenant_id, console.user.user_id
    with console.transaction() as conn:
        core = service.get_workflow(conn, tenant, workflow_id)
        if not core["is_core"]:
            raise WorkflowConflict(
                f'your tenant already has its own workflow "{workflow_id}": edit its draft'
            )
        created = service.create_workflow(
            conn,
            tenant,
            user,
            workflow_id=workflow_id,
            config=core["config"],
            change_description=f"override of the core workflow (core version {core['current_version']})",
        )
        service.save_draft(
            conn,
            tenant,
            user,
            workflow_id=workflow_id,
            draft=created["config"],
            expected=ETag.of(created),
        )
    return RedirectResponse(_url(_href(workflow_id), done="override") + "#editor", status_code=303)


# --- versions: diff, rollback, export -------------------------------------------------------------


def side_by_side(old: str, new: str, context: int | None = CONTEXT_LINES) -> dict[str, Any]:
    """Two texts as aligned rows (changed lines paired by position), runs of unchanged lines
    farther than `context` from a change folded into one row (None keeps every line)."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[dict[str, Any]] = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend(
                {"kind": "same", "left_no": i + 1, "left": a[i], "right_no": j + 1, "right": b[j]}
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        removed += i2 - i1
        added += j2 - j1
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            rows.append(
                {
                    "kind": "change",
                    "left_no": i + 1 if i < i2 else None,
                    "left": a[i] if i < i2 else None,
                    "right_no": j + 1 if j < j2 else None,
                    "right": b[j] if j < j2 else None,
                }
            )
    if context is not None:
        near: set[int] = set()
        for n, row in enumerate(rows):
            if row["kind"] == "change":
                near.update(range(n - context, n + context + 1))
        folded: list[dict[str, Any]] = []
        hidden = 0
        for n, row in enumerate(rows):
            if row["kind"] == "same" and n not in near:
                hidden += 1
                continue
            if hidden:
                folded.append({"kind": "skip", "count": hidden})
                hidden = 0
            folded.append(row)
        if hidden:
            folded.append({"kind": "skip", "count": hidden})
        rows = folded
    return {"rows": rows, "added": added, "removed": removed}


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    value = json.dumps(op["value"], ensure_ascii=False) if "value" in op else None
    if value is not None and len(value) > 300:
        value = value[:300] + " …"
    return {"op": op["op"], "path": op["path"], "value": value}


def _version_number(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    number = _int(value)
    if number is None or number < 1:
        raise NotFoundError(f"no version {value!r}")
    return number


def _compare(
    console: Console,
    workflow_id: str,
    choose: Callable[[dict[str, Any]], tuple[int, int]],
    *,
    full: bool,
) -> dict[str, Any]:
    """The page's context for two versions, `choose(workflow)` naming them (from, to)."""
    tenant = console.user.tenant_id
    with console.transaction() as conn:
        row = service.get_workflow(conn, tenant, workflow_id)
        from_v, to_v = choose(row)
        versions = service.list_versions(conn, tenant, workflow_id)
        old = service.get_version(conn, tenant, workflow_id, from_v)
        new = service.get_version(conn, tenant, workflow_id, to_v)
        patch = service.diff_versions(conn, tenant, workflow_id, from_v, to_v)
        names = _names(conn, [v["changed_by"] for v in versions])
    shown = side_by_side(
        _text(_ordered(old["config"]), "yaml"),
        _text(_ordered(new["config"]), "yaml"),
        None if full else CONTEXT_LINES,
    )
    pair = {"from": from_v, "to": to_v}
    return {
        "wf": row,
        "etag": str(ETag.of(row)),
        "href": _href(workflow_id),
        "versions": versions,
        "names": names,
        "old": old,
        "new": new,
        "from_v": from_v,
        "to_v": to_v,
        "diff": shown,
        "operations": [_operation(op) for op in patch],
        "full": full,
        "full_url": _url(_href(workflow_id, "/diff"), **pair, lines="all"),
        "folded_url": _url(_href(workflow_id, "/diff"), **pair),
    }


@router.get("/admin/workflows/{workflow_id}/diff")
def diff(console: ConsoleDep, workflow_id: str) -> HTMLResponse:
    """Any two versions side by side (`?from=&to=`, the latest two by default), with the RFC
    6902 operations of the service's diff."""
    console.require(*EDITORS)
    query = console.request.query_params

    def choose(row: dict[str, Any]) -> tuple[int, int]:
        to_v = _version_number(query.get("to"), row["current_version"] or 1)
        return _version_number(query.get("from"), max(1, to_v - 1)), to_v

    context = _compare(console, workflow_id, choose, full=query.get("lines") == "all")
    return console.page("workflow_diff.html", rollback=None, **context)


@router.get("/admin/workflows/{workflow_id}/versions/{version}/rollback")
def confirm_rollback(console: ConsoleDep, workflow_id: str, version: str) -> HTMLResponse:
    """The confirmation (it works without JavaScript): what rolling back would change, from the
    published config to that version's, and the button that does it."""
    console.require(*EDITORS)
    number = _version_number(version, 0)

    def choose(row: dict[str, Any]) -> tuple[int, int]:
        return row["current_version"] or 1, number

    context = _compare(console, workflow_id, choose, full=False)
    return console.page("workflow_diff.html", rollback=number, **context)


@router.post("/admin/workflows/{workflow_id}/rollback")
def rollback(
    console: ConsoleDep, workflow_id: str, version: FormText = "", etag: FormText = ""
) -> RedirectResponse:
    console.require(*EDITORS)
    number = _version_number(version, 0)
    with console.transaction() as conn:
        service.rollback(
            conn,
            console.user.tenant_id,
            workflow_id=workflow_id,
            version=number,
            expected=ETag.parse(etag, "etag"),
        )
    return RedirectResponse(_url(_href(workflow_id), done="rolled-back"), status_code=303)


@router.get("/admin/workflows/{workflow_id}/export")
def export(console: ConsoleDep, workflow_id: str) -> Response:
    """The published config as a file, as `renewflow workflows export` writes it."""
    console.require(*EDITORS)
    fmt = _format(console.request.query_params.get("format"))
    with console.transaction() as conn:
        (config,) = service.export_configs(conn, console.user.tenant_id, [workflow_id])
    return Response(
        dump_document(config, fmt),
        media_type=f"{MEDIA_TYPES[fmt]}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{config["id"]}.{fmt}"'},
    )
