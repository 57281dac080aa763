"""`tongfang`: the operator's command line (credentials, pseudonyms, queries, migrations)."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import orjson

from streams.settings import Settings


@click.group()
def main() -> None:
    """Tongfang operator commands. Configuration comes from TONGFANG_* variables (see docs/configuration.md)."""


@main.group()
def enterprise() -> None:
    """Enterprise credentials for the ingest API."""


@enterprise.command("create")
@click.argument("enterprise_id")
@click.option("--name", required=True, help="Display name, e.g. 顺丰速运杭州分公司.")
def enterprise_create(enterprise_id: str, name: str) -> None:
    """Create ENTERPRISE_ID (if new) and print a fresh bearer token; only its digest is stored."""
    from services.registry import Registry

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
    from services.registry import Registry

    registry = Registry(Settings().ingest_db_path)
    try:
        click.echo(f"revoked {registry.revoke_tokens(enterprise_id)} token(s)")
    finally:
        registry.close()


@enterprise.group("operator")
def enterprise_operator() -> None:
    """Site operators' accounts: post for some of the enterprise's sites, from the workbench (/app)."""


@enterprise_operator.command("create")
@click.argument("enterprise_id")
@click.option("--site", "sites", multiple=True, required=True, help="A site it may post for (repeat for more).")
@click.option("--label", required=True, help="What the enterprise calls the account, e.g. 西湖网点早班; not in events.")
def operator_create(enterprise_id: str, sites: tuple[str, ...], label: str) -> None:
    """Create an operator account of ENTERPRISE_ID for its registered sites; print its id and token once."""
    from services.registry import Registry, UnknownSites

    registry = Registry(Settings().ingest_db_path)
    try:
        operator, token = registry.create_operator(enterprise_id, label, sites)
    except UnknownSites as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        registry.close()
    click.echo(f"operator {operator.operator_id} (actor {operator.actor_id}) for {', '.join(sorted(operator.sites))}")
    click.echo(token)


@enterprise_operator.command("list")
@click.argument("enterprise_id")
def operator_list(enterprise_id: str) -> None:
    """The operator accounts of ENTERPRISE_ID that are not revoked."""
    from services.registry import Registry

    registry = Registry(Settings().ingest_db_path)
    try:
        for operator in registry.operators(enterprise_id):
            click.echo(f"{operator.operator_id}\t{operator.label}\t{','.join(sorted(operator.sites))}")
    finally:
        registry.close()


@enterprise_operator.command("revoke")
@click.argument("enterprise_id")
@click.argument("operator_id")
def operator_revoke(enterprise_id: str, operator_id: str) -> None:
    """Revoke OPERATOR_ID of ENTERPRISE_ID: its token and its sessions stop working at once."""
    from services.registry import Registry

    registry = Registry(Settings().ingest_db_path)
    try:
        if not registry.revoke_operator(enterprise_id, operator_id):
            raise click.ClickException(f"no operator {operator_id} of {enterprise_id} to revoke")
    finally:
        registry.close()
    click.echo(f"revoked {operator_id}")


@main.group()
def regulator() -> None:
    """Regulator credentials for the regulator API, scoped to a jurisdiction."""


@regulator.command("create")
@click.argument("regulator_id")
@click.option("--name", required=True, help="Display name, e.g. 杭州市邮政管理局.")
@click.option("--jurisdiction", required=True, help="Division-code prefix: 33, 3301, 330106 ...")
def regulator_create(regulator_id: str, name: str, jurisdiction: str) -> None:
    """Create REGULATOR_ID (or give it a new token) and print the token; only its digest is stored."""
    import re

    from services.registry import Registry

    _check_identifier(regulator_id)
    if not re.match(r"^[1-8][0-9]{1,8}$", jurisdiction):
        raise click.BadParameter("a division-code prefix of 2 to 9 digits", param_hint="--jurisdiction")
    registry = Registry(Settings().ingest_db_path)
    try:
        click.echo(registry.create_regulator(regulator_id, name, jurisdiction))
    finally:
        registry.close()


@regulator.command("revoke")
@click.argument("regulator_id")
def regulator_revoke(regulator_id: str) -> None:
    """Remove REGULATOR_ID: its token stops working and its console sessions end at their next request."""
    from services.registry import Registry

    registry = Registry(Settings().ingest_db_path)
    try:
        if not registry.revoke_regulator(regulator_id):
            raise click.BadParameter("no such regulator", param_hint="REGULATOR_ID")
    finally:
        registry.close()
    click.echo(f"revoked {regulator_id}")


@regulator.command("row-policies")
@click.option(
    "--service-user",
    default=None,
    help="The services' ClickHouse user, which keeps every row (default: TONGFANG_CLICKHOUSE_USER).",
)
@click.option("--apply", is_flag=True, help="Run the statements on the ClickHouse server instead of printing them.")
def regulator_row_policies(service_user: str | None, apply: bool) -> None:
    """SQL giving each regulator a ClickHouse role that reads only its jurisdiction's rows."""
    from services.registry import Registry
    from services.row_policies import scoped_tables, statements
    from streams.warehouse import ServerWarehouse, open_reader

    settings = Settings()
    if apply and settings.warehouse != "clickhouse":
        raise click.UsageError("--apply needs TONGFANG_WAREHOUSE=clickhouse: chDB has no users or roles")
    registry = Registry(settings.ingest_db_path)
    try:
        regulators = registry.regulators()
    finally:
        registry.close()
    tables = scoped_tables(open_reader(settings))  # the server, or the running worker's chDB
    sql = statements(regulators, tables, settings.clickhouse_database, service_user or settings.clickhouse_user)
    if not apply:
        click.echo("".join(f"{statement};\n" for statement in sql), nl=False)
        return
    server = ServerWarehouse(settings)
    try:
        for statement in sql:
            server.execute(statement)
    finally:
        server.close()
    click.echo(f"applied {len(sql)} statements for {len(regulators)} regulator(s)", err=True)


@main.command()
@click.option("--jurisdiction", required=True, help="Division-code prefix.")
@click.option("--date", "day", default=None, help="YYYY-MM-DD; default today (Asia/Shanghai).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="HTML file to write.")
def report(jurisdiction: str, day: str | None, output: Path) -> None:
    """Write the daily report (一天一报告) of JURISDICTION as a self-contained HTML page."""
    from dashboards.report import gather, render, report_day
    from streams.warehouse import WarehouseError, open_reader

    try:
        when = report_day(day) if day else datetime.now(ZoneInfo("Asia/Shanghai")).date()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--date") from None
    try:
        page = render(gather(open_reader(Settings()), jurisdiction, when))
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    output.write_text(page, encoding="utf-8")
    click.echo(f"wrote {output}")


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
    from streams.warehouse import WarehouseError, WorkerReader

    try:
        rows = WorkerReader(Settings(), adhoc=True).query(sql)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    for row in rows:
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


@main.command()
@click.option(
    "--since", "since", required=True, help="Start of the range (ISO date or time; Asia/Shanghai if no offset)."
)
@click.option("--until", "until", required=True, help="End of the range, exclusive.")
@click.option("--catalogue", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Rule catalogue YAML.")
@click.option("--compare", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A second catalogue.")
@click.option("--source", type=click.Choice(["warehouse", "kafka"]), default="warehouse", show_default=True)
@click.option("--jsonl", is_flag=True, help="Print the alerts as JSON lines instead of a summary.")
def replay(since: str, until: str, catalogue: Path | None, compare: Path | None, source: str, jsonl: bool) -> None:
    """Re-run a rule catalogue over stored events and print the alerts of the range; with --compare,
    the difference. The rules start from the state as of --since: the registry from the beginning
    and the other events of the weeks before are folded first, and their alerts left out."""
    import msgspec

    from streams.compliance.catalogue import DEFAULT_CATALOGUE, CatalogueError, load
    from streams.compliance.replay import compare as diff
    from streams.compliance.replay import replay as run
    from streams.history import from_kafka, from_warehouse
    from streams.warehouse import open_reader

    settings = Settings()
    start, end = _moment(since, "--since"), _moment(until, "--until")
    try:
        base = load(catalogue or settings.rule_catalogue or DEFAULT_CATALOGUE)
        other = load(compare) if compare else None
    except CatalogueError as exc:
        raise click.ClickException(str(exc)) from None
    if source == "kafka":
        log = list(from_kafka(settings, start, end))
    else:
        log = list(from_warehouse(open_reader(settings), start, end))
    alerts = run(base, log, end, since=start)
    if jsonl:
        for alert in alerts:
            click.echo(msgspec.json.encode(alert).decode())
        return
    raised = Counter(alert.rule_id for alert in alerts if type(alert).__name__ == "AlertRaised")
    click.echo(f"{len(log)} log entries, catalogue {base.version}: {sum(raised.values())} alerts raised")
    for rule_id, count in sorted(raised.items()):
        click.echo(f"  {rule_id:<20} {count:>7}  {base.rule(rule_id).title.zh}")
    if other is None:
        return
    differences = diff(alerts, run(other, log, end, since=start))
    click.echo(f"with {compare} (version {other.version}):")
    if not differences:
        click.echo("  no difference")
    for difference in differences:
        sites = ", ".join(f"{site} ({count})" for site, count in difference.sites)
        click.echo(f"  {difference.rule_id:<20} +{difference.added} / -{difference.removed}  at {sites or '-'}")


@main.command("import")
@click.argument("source", type=click.File("rb"))
@click.option("--backfill", is_flag=True, help="History: judged by event time as if on time (docs/late-records.md).")
@click.option("--token", envvar="TONGFANG_TOKEN", required=True, help="The enterprise's token ($TONGFANG_TOKEN).")
@click.option("--url", default=None, help="The ingest service; default from TONGFANG_INGEST_HOST/PORT.")
@click.option(
    "--errors",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where lines not stored go, as JSON lines (default SOURCE.errors.jsonl).",
)
def import_(source: click.utils.LazyFile, backfill: bool, token: str, url: str | None, errors: Path | None) -> None:
    """Post the events of SOURCE (JSON lines, one event each; - for standard input) in batches."""
    from services.importer import ImportError_, import_events

    settings = Settings()
    url = url or settings.ingest_url
    name = getattr(source, "name", "-")
    errors = errors or Path("import.errors.jsonl" if name in ("-", "<stdin>") else f"{name}.errors.jsonl")
    max_bytes = min(settings.ingest_max_body_bytes, 4 * 1024 * 1024)
    with errors.open("wb") as written:
        try:
            report = import_events(source, url, token, backfill=backfill, errors=written, max_bytes=max_bytes)
        except ImportError_ as exc:
            raise click.ClickException(str(exc)) from None
    counts = ", ".join(f"{status} {report.counts[status]}" for status in sorted(report.counts))
    click.echo(f"{report.lines} lines{' as history' if backfill else ''}: {counts or 'nothing to post'}")
    if report.complete:
        errors.unlink()
        return
    raise click.ClickException(f"{report.lines - report.counts['accepted'] - report.counts['duplicate']} lines "
                               f"not stored; see {errors}")  # fmt: skip


@main.group()
def policy() -> None:
    """Epidemic-response level per jurisdiction (posted by a regulator)."""


@policy.command("set")
@click.argument("division_code")
@click.argument("level", type=click.Choice(["normal", "response"]))
@click.option("--authority", required=True, help="Issuing authority id, e.g. post-330100.")
@click.option("--at", "effective", default=None, help="When it takes effect (ISO time); default now.")
def policy_set(division_code: str, level: str, authority: str, effective: str | None) -> None:
    """Put LEVEL in force for DIVISION_CODE, on every partition of the events topic."""
    import uuid

    from kafka import KafkaProducer

    from schemas import events

    settings = Settings()
    moment = _moment(effective, "--at") if effective else datetime.now(ZoneInfo("Asia/Shanghai"))
    body = orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "policy.level_changed",
            "occurred_at": moment.isoformat(),
            "received_at": datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(),
            "enterprise_id": authority,
            "site_id": division_code,
            "payload": {"division_code": division_code, "level": level},
        }
    )
    try:
        events.decode(body)
    except events.InvalidEvent as exc:
        raise click.ClickException(f"{exc.field}: {exc.reason}") from None
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap.split(","), acks="all")
    try:
        partitions = sorted(producer.partitions_for(settings.topic_events))
        for partition in partitions:  # every partition's rules see the change in their own log order
            producer.send(settings.topic_events, key=division_code.encode(), value=body, partition=partition).get(30)
    finally:
        producer.close()
    click.echo(f"{division_code}: {level} from {moment.isoformat()} ({len(partitions)} partitions)")


def _moment(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "expected an ISO date or time, e.g. 2026-11-23 or 2026-11-23T08:00", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


def _check_identifier(value: str) -> None:
    import re

    from schemas.envelope import IDENTIFIER_PATTERN

    if not re.match(IDENTIFIER_PATTERN, value):
        raise click.BadParameter("letters, digits and _.:- ; 1 to 64 characters", param_hint="ENTERPRISE_ID")


if __name__ == "__main__":
    main()
