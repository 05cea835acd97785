"""`ledger rulesets draft FILE` and `ledger rulesets publish VERSION` (DESIGN §10, §16)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import click

from ledger_cli.app import build_application


@click.group()
def rulesets() -> None:
    """Rule sets: draft a document, then publish a drafted version."""


@rulesets.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default=None, help="who drafts it (default: the login name)")
def draft(file: Path, actor: str | None) -> None:
    """Draft the rule set in FILE: a §3.7 document, or the HTTP envelope
    {version, effective_from, content}. A document that does not validate is refused
    with every problem listed."""
    document = _document(file)
    made = _as_operator(actor, lambda app: app.draft_ruleset(document))
    click.echo(f"drafted {document.get('version')} at position "
               f"{made.receipt.events[-1].position}")


@rulesets.command()
@click.argument("version")
@click.option("--actor", default=None, help="who publishes it (default: the login name)")
def publish(version: str, actor: str | None) -> None:
    """Publish drafted VERSION; it is in force for periods from its effective_from."""
    made = _as_operator(actor, lambda app: app.publish_ruleset(version))
    click.echo(f"published {version} at position {made.receipt.events[-1].position}")


@rulesets.command()
@click.argument("version")
@click.option("--against", type=click.Choice(["live"]), default="live", show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=1000, show_default=True)
def diff(version: str, against: str, limit: int) -> None:
    """Per manager and figure: live, under VERSION, delta, and only what moved it; the same
    code as GET /rulesets/{version}/diff?against=live."""
    from ledger.errors import LedgerError  # noqa: PLC0415 - keep --help fast
    from ledger_cli.projections import _diff_lines  # noqa: PLC0415
    from projections.database import engine_for  # noqa: PLC0415
    from projections.rule_diff import diff_against_live  # noqa: PLC0415
    from projections.runner import FactsProjection  # noqa: PLC0415

    app = build_application()
    position = FactsProjection(app).catch_up()
    try:
        keys = diff_against_live(engine_for(app), version, position, limit)
    except LedgerError as e:
        raise click.ClickException(e.detail) from e
    if not keys:
        click.echo(f"no figure moves from {against} to {version}")
    for key in keys:
        for line in _diff_lines(key):
            click.echo(line)


def _document(file: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise click.ClickException(f"{file} is not JSON: {e}") from e
    if not isinstance(loaded, dict):
        raise click.ClickException(f"{file} must hold a JSON object")
    content = loaded.get("content")
    if isinstance(content, dict):  # the envelope GET /rulesets/{version} answers
        return {**content, "version": loaded.get("version"),
                "effective_from": loaded.get("effective_from")}
    return loaded


def _as_operator(actor: str | None, command: Any) -> Any:
    from ledger.audit import AuditContext, acting_as  # noqa: PLC0415 - keep --help fast
    from ledger.errors import InvalidInput, LedgerError  # noqa: PLC0415

    app = build_application()
    context = AuditContext(actor=actor or getpass.getuser(), role="operator", request_id="cli")
    try:
        with acting_as(context):
            return command(app)
    except InvalidInput as e:
        problems = "\n".join(f"  {path}: {message}" for path, messages in e.errors.items()
                             for message in messages)
        raise click.ClickException(f"{e.detail}\n{problems}") from e
    except LedgerError as e:
        raise click.ClickException(e.detail) from e
