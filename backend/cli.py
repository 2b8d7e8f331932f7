"""Command line: `repairops migrate|demo|openapi|create-partner …` (also `flask --app backend …`)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import click
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import FlaskGroup

from alembic import command
from backend.config import PROJECT_ROOT

OPENAPI_PATH = PROJECT_ROOT / "mobile_contracts" / "openapi.json"


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (creating the SQLite file's folder when needed)."""
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


def openapi_document(app: Flask) -> dict[str, Any]:
    with app.app_context():
        spec: dict[str, Any] = app.extensions["repairops.api"].spec.to_dict()
    return spec


def render_openapi(app: Flask) -> str:
    return json.dumps(openapi_document(app), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def register_cli(app: Flask) -> None:
    @app.cli.command("migrate")
    def migrate() -> None:
        """Upgrade the database schema to the latest revision."""
        upgrade_database(current_app.config["SQLALCHEMY_DATABASE_URI"])
        click.echo("database at head")

    @app.cli.command("db-revision")
    @click.argument("message")
    def db_revision(message: str) -> None:
        """Autogenerate an Alembic revision for model changes (diffed against a scratch database at head).

        Read and edit the generated file before committing it; never edit a revision that has landed.
        """
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / 'scratch.db'}"
            upgrade_database(url)
            command.revision(alembic_config(url), message=message, autogenerate=True)

    @app.cli.command("openapi")
    @click.option("--output", type=click.Path(path_type=Path), default=OPENAPI_PATH, show_default=True)
    def openapi(output: Path) -> None:
        """Write the OpenAPI document generated from the code (mobile_contracts/openapi.json)."""
        output.write_text(render_openapi(current_app), encoding="utf-8")
        click.echo(f"wrote {output}")

    @app.cli.command("contracts")
    def contracts() -> None:
        """Regenerate the mobile contracts: openapi.json and the sync JSON Schemas (mobile_contracts/)."""
        from backend.sync.contracts import write_all

        OPENAPI_PATH.write_text(render_openapi(current_app), encoding="utf-8")
        click.echo(f"wrote {OPENAPI_PATH}")
        for path in write_all():
            click.echo(f"wrote {path}")

    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="Load only into an empty database (what `make run` does).")
    @click.option("--seed", type=int, default=None, help="Another seed: another (still repeatable) city.")
    def demo(if_empty: bool, seed: int | None) -> None:
        """Load the Zhengzhou demo data set (regions, technicians, customers, 500 work orders, logins)."""
        from backend.demo.core import DEMO_SEED, database_is_empty, demo_logins, load_demo

        session = current_app.extensions["repairops.session_factory"]()
        with session.begin():
            if not database_is_empty(session):
                if if_empty:
                    click.echo("demo data: the database already has data; nothing loaded")
                    return
                raise click.ClickException("the demo loads into an empty database; this one has users")
            summary = load_demo(session, seed=DEMO_SEED if seed is None else seed)
        click.echo("loaded: " + ", ".join(f"{n} {table}" for table, n in summary.counts.items()))
        statuses = sorted(summary.statuses.items())
        click.echo("work orders by status: " + ", ".join(f"{s} {n}" for s, n in statuses))
        for role, username, password in demo_logins():
            click.echo(f"  {role:<17} {username:<38} {password}")

    @app.cli.command("create-partner")
    @click.argument("name")
    def create_partner_cmd(name: str) -> None:
        """Register a partner platform and print its API key (shown once)."""
        from backend.accounts.service import create_partner

        session = current_app.extensions["repairops.session_factory"]()
        with session.begin():
            partner, key = create_partner(session=session, name=name)
        click.echo(f"partner {partner.id} api key: {key}")

    @app.cli.command("sweep-uploads")
    @click.option(
        "--retention-hours", type=int, default=None, help="Default: STORAGE_UPLOAD_RETENTION_HOURS."
    )
    @click.option("--min-age-minutes", type=int, default=60, show_default=True)
    def sweep_uploads_cmd(retention_hours: int | None, min_age_minutes: int) -> None:
        """Delete expired never-completed uploads and unreferenced objects (never verified evidence)."""
        from datetime import timedelta

        from backend.evidence import storage_for, sweep_uploads

        session = current_app.extensions["repairops.session_factory"]()
        with session.begin():
            report = sweep_uploads(
                session=session,
                storage=storage_for(current_app),
                retention=None if retention_hours is None else timedelta(hours=retention_hours),
                min_age=timedelta(minutes=min_age_minutes),
            )
        click.echo(json.dumps(report.__dict__))

    @app.cli.command("dispatch-timeouts")
    def dispatch_timeouts_cmd() -> None:
        """Re-queue assigned orders not accepted in time, notify team leads of declines, re-dispatch
        the queue (emergencies first). Run every minute."""
        from backend.geo import DispatchSettings, run_dispatch_timeouts

        session = current_app.extensions["repairops.session_factory"]()
        with session.begin():
            report = run_dispatch_timeouts(
                session=session, settings=DispatchSettings.from_config(current_app.config)
            )
        click.echo(json.dumps(report))


def _create_app_for_cli() -> Flask:
    from backend import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app_for_cli)
def main() -> None:
    """RepairOps management commands."""
