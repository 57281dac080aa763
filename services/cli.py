"""`tongfang`: the operator's command line (credentials, pseudonyms, queries, migrations)."""

from __future__ import annotations

import sys

import click
import orjson

from deploy.settings import Settings


@click.group()
def main() -> None:
    """Tongfang operator commands. Configuration comes from TONGFANG_* variables (see README)."""


@main.group()
def enterprise() -> None:
    """Enterprise credentials for the ingest API."""


@enterprise.command("create")
@click.argument("enterprise_id")
@click.option("--name", required=True, help="Display name, e.g. 顺丰速运杭州分公司.")
def enterprise_create(enterprise_id: str, name: str) -> None:
    """Create ENTERPRISE_ID (if new) and print a fresh bearer token; only its digest is stored."""
    from services.ingest.registry import Registry

    _check_identifier(enterprise_id)
    registry = Registry(Settings().ingest_db_path)
    try:
        click.echo(registry.create_enterprise(enterprise_id, name))
    finally:
        registry.close()


@enterprise.command("revoke")
@click.argument("enterprise_id")
def enterprise_revoke(enterprise_id: str) -> None:
    """Revoke every token of ENTERPRISE_ID."""
    from services.ingest.registry import Registry

    registry = Registry(Settings().ingest_db_path)
    try:
        click.echo(f"revoked {registry.revoke_tokens(enterprise_id)} token(s)")
    finally:
        registry.close()


@main.command()
def pseudonym() -> None:
    """Read ID-card numbers from stdin, one a line; print each one's staff pseudonym.

    Numbers are read from stdin, never from arguments, so they stay out of shell history.
    """
    from schemas.pseudonym import InvalidIdNumber, pseudonymize

    key = Settings().pseudonym_key.get_secret_value().encode()
    for line_number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            click.echo(pseudonymize(line, key))
        except (InvalidIdNumber, ValueError) as exc:
            raise click.ClickException(f"line {line_number}: {exc}") from None


@main.command()
@click.argument("sql")
def sql(sql: str) -> None:
    """Run a read-only query on the warehouse through the running worker; print JSON lines."""
    import urllib.error
    import urllib.parse
    import urllib.request

    settings = Settings()
    url = f"http://{settings.worker_web_host}:{settings.worker_web_port}/query?" + urllib.parse.urlencode({"sql": sql})
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body = orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise click.ClickException(orjson.loads(exc.read()).get("error", str(exc))) from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"no worker answers at {url.split('?')[0]}: {exc.reason}") from None
    for row in body["rows"]:
        click.echo(orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS).decode())


@main.command()
def migrate() -> None:
    """Apply pending warehouse migrations (with chDB, only while no worker holds the data)."""
    from streams.warehouse import migrate as apply
    from streams.warehouse import open_warehouse

    warehouse = open_warehouse(Settings())
    try:
        applied = apply(warehouse)
    finally:
        warehouse.close()
    click.echo("\n".join(applied) if applied else "up to date")


def _check_identifier(value: str) -> None:
    import re

    from schemas.envelope import IDENTIFIER_PATTERN

    if not re.match(IDENTIFIER_PATTERN, value):
        raise click.BadParameter("letters, digits and _.:- ; 1 to 64 characters", param_hint="ENTERPRISE_ID")
