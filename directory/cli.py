"""Command-line interface (``flask --app directory ...``): thin wrappers around the core.

- ``seed [--if-empty]``: vocabulary, data sources and the starter data in ``seeds/``.
- ``import-centers PATH [--format ...] [--source NAME] [--dry-run]``.
- ``geocode PLACE``: what the offline geocoder makes of a place.
- ``export-centers PATH [--format csv|hsds|records]``: the whole directory in the CSV
  template (or an Open Referral HSDS 3.0 zip, or a records export with its provenance).
- ``import-records PATH``: restore a records export into an empty database.
- ``jobs [--workers N]``: run background jobs (web imports' previews and confirms).
Each command commits once, at the end, or not at all.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import sys
import time
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import DBAPIError

from directory.extensions import db
from directory.importer import FORMAT_NAMES, FileError, run_import
from directory.models import Center
from directory.seeding import link_report, modality_report, seed
from directory.web.errors import database_problem
from directory.web.params import get_geocoder, get_import_geocoder


def register(app) -> None:
    """Add the commands to ``app.cli``."""
    for command in (seed_command, import_centers_command, geocode_command,
                    create_admin_command, export_centers_command, import_records_command,
                    jobs_command):
        app.cli.add_command(command)


def ensure_schema(echo=print) -> None:
    """Bring the database schema to Alembic's head (``flask db upgrade``) when it is behind,
    e.g. a database file that was never migrated. Needs Flask-Migrate on the app (the
    ``flask`` command line has it)."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask import current_app
    from flask_migrate import upgrade

    migrate = current_app.extensions["migrate"]
    config = migrate.migrate.get_config(migrate.directory)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != heads:
        echo("The database schema is not up to date; running the migrations first "
             "(flask db upgrade).")
        upgrade()


@click.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when the directory has centers.")
def seed_command(if_empty: bool) -> None:
    """Load the starter data in seeds/ (idempotent) and print modality coverage. Runs the
    migrations first on a database whose schema is behind."""
    ensure_schema(click.echo)
    if if_empty and db.session.scalar(sa.select(sa.func.count(Center.id))):
        click.echo("The directory already has centers; seed skipped.")
        return
    started = time.perf_counter()
    if not os.path.exists(current_app.config["GAZETTEER_PATH"]):
        click.echo("Building the offline place index (GeoNames cities, US ZIP codes) under "
                   "instance/: a one-off, about 10 s...")
    try:
        results = seed(db.session, get_geocoder(), echo=click.echo)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    total = db.session.scalar(sa.select(sa.func.count(Center.id)))
    located = db.session.scalar(sa.select(sa.func.count(Center.id))
                                .where(Center.latitude.is_not(None)))
    click.echo(f"\n{total} centers, {located} with coordinates "
               f"({100 * located / max(total, 1):.1f} %), in "
               f"{time.perf_counter() - started:.1f} s.")
    report = link_report(db.session)
    click.echo("\nSource records: " + ", ".join(f"{s} {n}" for s, n in report["records"].items())
               + f"; {report['centers']} centers, {report['multi_source_centers']} of them "
               f"with records from more than one source.")
    click.echo("Links by rule: " + (", ".join(f"{r} {n}" for r, n in report["links"].items())
                                    or "none") + f"; pairs sent to review by this run: "
               f"{sum(r.review for r in results)}, open in the review queue: "
               f"{report['open_reviews']}.")
    click.echo("\nCenters per modality, by source:")
    for slug, source, provenance, n in modality_report(db.session):
        click.echo(f"  {slug:<24} {source:<20} {provenance:<9} {n:>6}")


def parse_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("Hospital=name", "Zip=postal_code", "Notes=ignore")`` -> a column mapping.

    :raises click.BadParameter: for a pair without ``=`` or an unknown field name.
    """
    from directory.importer.formats import CANONICAL_FIELDS

    mapping = {}
    for pair in pairs:
        column, sep, target = pair.rpartition("=")
        if not sep or not column.strip():
            raise click.BadParameter(f"{pair!r} is not COLUMN=FIELD", param_hint="--mapping")
        target = target.strip()
        if target not in (*CANONICAL_FIELDS, "ignore"):
            raise click.BadParameter(f"unknown field {target!r}; use one of "
                                     f"{', '.join(CANONICAL_FIELDS)} or ignore",
                                     param_hint="--mapping")
        mapping[column.strip()] = target
    return mapping


def zip_folder(path: Path) -> bytes:
    """A folder of HSDS CSV tables (and its datapackage.json) as zip bytes."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(path.iterdir()):
            if member.is_file() and member.suffix.lower() in (".csv", ".json"):
                zf.write(member, member.name)
    return buffer.getvalue()


@click.command("import-centers")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "format_", type=click.Choice(FORMAT_NAMES), default="auto",
              show_default=True, help="File format; auto-detected from the header.")
@click.option("--source", default=None, help="Data-source name that keys re-imports.")
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@click.option("--mapping", "mapping_pairs", multiple=True, metavar="COLUMN=FIELD",
              help="Map a column to a field (or 'ignore'); repeatable.")
@click.option("--errors-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the rejected rows (original columns + error) to this CSV file.")
@click.option("--sheet", default=None, metavar="NAME",
              help="The sheet of an Excel workbook to import (name, or number from 1); "
                   "default the first sheet with data.")
@click.option("--keep-coordinates", is_flag=True,
              help="Use the file's coordinates even where they contradict the row's ZIP "
                   "code, city or country (by default those rows are placed from the "
                   "address, with a warning).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The date of the data (YYYY-MM-DD; default today): its records' dataset "
                   "date, which decides which source's phone or status is the most recent.")
def import_centers_command(path: Path, format_: str, source: str | None, dry_run: bool,
                           mapping_pairs: tuple[str, ...], errors_out: Path | None,
                           as_of: dt.datetime | None = None, sheet: str | None = None,
                           keep_coordinates: bool = False) -> None:
    """Import a CSV of centers, a modality list, an Excel workbook (.xlsx) or an HSDS
    package (zip or folder), and report each rejected row. The file's type is read from
    its content, not its name.

    Exits 1 when any row was rejected, 2 when the file itself cannot be imported, 3 when the
    database cannot be written (read-only, disk full, unreachable): then nothing is written.
    """
    mapping = parse_mapping(mapping_pairs)
    # Checked before anything is written: a bad option after the commit would look like a
    # failed import and invite a second one.
    if errors_out is not None and not errors_out.resolve().parent.is_dir():
        raise click.UsageError(f"--errors-out: the folder {str(errors_out.parent)!r} does "
                               "not exist")
    if as_of is not None and as_of.date() > dt.date.today():
        raise click.UsageError(f"--as-of {as_of.date()} is in the future: a dataset date "
                               "decides which source is the most recent")
    data = zip_folder(path) if path.is_dir() else path.read_bytes()
    if sheet is not None:
        from directory.importer.sniff import identify

        try:
            kind = identify(data)
        except FileError:
            kind = None  # run_import names what the file is
        if kind in ("text", "hsds"):
            raise click.UsageError(f"--sheet {sheet!r}: {path.name} is "
                                   + ("a CSV (text) file" if kind == "text" else
                                      "an HSDS package") + ", not an Excel workbook; "
                                   "leave --sheet out")
    rows_estimate = data.count(b"\n")
    bar = None
    if rows_estimate > 3000 and sys.stderr.isatty():
        bar = click.progressbar(length=rows_estimate, label="Validating", file=sys.stderr)
        bar.__enter__()
    # No cyclic garbage collection during the import: it keeps one record per row alive
    # until the write and makes almost no reference cycles, so the collector's full passes
    # over those records (~0.5-1 s of a 100k-row import) would find nothing to free.
    collecting = gc.isenabled()
    gc.disable()
    try:
        payload, data = [data], None  # run_import frees the bytes once read
        result = run_import(db.session, payload.pop(), filename=path.name, format=format_,
                            source=source, geocoder=get_import_geocoder(), dry_run=dry_run,
                            user="cli", mapping=mapping or None,
                            as_of=as_of.date() if as_of else None,
                            progress=bar.update if bar else None, parallel=True,
                            sheet=sheet, keep_coordinates=keep_coordinates)
    except FileError as exc:
        db.session.rollback()
        what = " (a folder: its files were read as one HSDS package zip)" if path.is_dir() else ""
        click.echo(f"{path}{what}: {exc}", err=True)
        sys.exit(2)
    except DBAPIError as exc:
        db.session.rollback()
        click.echo(f"{path}: {database_problem(exc)}", err=True)
        sys.exit(3)
    finally:
        if collecting:
            gc.enable()
        if bar is not None:
            bar.__exit__(None, None, None)
    if dry_run:
        db.session.rollback()
    else:
        try:
            db.session.commit()
            if result.added + result.updated >= 1000:  # fresh statistics for the planner
                try:
                    db.session.execute(sa.text("ANALYZE"))
                    db.session.commit()
                except KeyboardInterrupt:  # the import itself is committed: say so
                    db.session.rollback()
                    click.echo(f"{path}: interrupted after the import was committed; the "
                               f"planner statistics were not refreshed (run ANALYZE)",
                               err=True)
        except DBAPIError as exc:
            db.session.rollback()
            click.echo(f"{path}: {database_problem(exc)}", err=True)
            sys.exit(3)
    prefix = "would be " if dry_run else ""
    read_as = (f"sheet {result.sheet!r} of the workbook" if result.sheet else
               f"encoding {result.encoding}, delimiter {result.delimiter!r}")
    click.echo(f"{path.name}: {result.rows} rows, format {result.format}, source "
               f"{result.source}, {read_as}")
    click.echo(f"{prefix}added {result.added}, {prefix}linked {result.linked} to centers "
               f"already here, {prefix}updated {result.updated}, "
               f"unchanged {result.unchanged}, rejected {result.rejected}, "
               f"{result.review} pair(s) for review"
               + (f"; {result.not_in_file} center(s) of source {result.source!r} are not in "
                  f"this file and were left alone" if result.not_in_file else ""))
    for issue in result.errors:
        click.echo(f"{issue.line}:{issue.column or '-'}: {issue.message}")
    for issue in result.warnings:
        click.echo(f"{issue.line}:{issue.column or '-'}: warning: {issue.message}")
    for line, name, center_id, other in result.duplicates:
        click.echo(f"{line}:name: warning: likely duplicate: {name!r} looks like center "
                   f"{center_id} from {other}")
    if errors_out is not None and result.rejected:
        errors_out.write_text(result.rejected_csv(), encoding="utf-8")
        click.echo(f"Rejected rows written to {errors_out}")
    if dry_run:
        click.echo("Dry run: nothing was written.")
    if result.rejected:
        sys.exit(1)


@click.command("create-admin")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "editor"]), default="admin",
              show_default=True)
@click.option("--password", envvar="ADMIN_PASSWORD", default=None,
              help="Read from $ADMIN_PASSWORD for scripts; prompted when absent.")
def create_admin_command(email: str, role: str, password: str | None) -> None:
    """Create (or update the password and role of) an admin account. Updating ends the
    account's sessions and reactivates it when it was deactivated (the operator's way back
    in)."""
    from directory.web.auth import MIN_PASSWORD, upsert_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        click.echo(f"The password must have at least {MIN_PASSWORD} characters.", err=True)
        sys.exit(2)
    try:
        user, created = upsert_user(db.session, email, password, role, reactivate=True)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    db.session.commit()
    click.echo(f"{'Created' if created else 'Updated'} {user.role} {user.email}.")


@click.command("geocode")
@click.argument("place")
@click.option("--country", default=None, help="ISO 3166-1 alpha-2 code to restrict to.")
def geocode_command(place: str, country: str | None) -> None:
    """Show what the geocoder makes of PLACE, and the alternatives."""
    from directory.geo import GeocodingError

    try:
        resolution = get_geocoder().resolve(place, country=country)
    except GeocodingError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    p = resolution.place
    click.echo(f"{p.name}  ({p.latitude:.5f}, {p.longitude:.5f})  precision {p.precision}"
               + (f", population {p.population:,}" if p.population else ""))
    if resolution.alternatives:
        click.echo("Alternatives:")
        for alt in resolution.alternatives:
            click.echo(f"  {alt.name}  ({alt.latitude:.5f}, {alt.longitude:.5f})"
                       + (f", population {alt.population:,}" if alt.population else ""))


@click.command("export-centers")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "format_", type=click.Choice(["csv", "hsds", "records"]),
              default="csv", show_default=True,
              help="csv: the project's CSV template (re-importable with --format native); "
                   "hsds: Open Referral HSDS 3.0 zip; records: every source record with its "
                   "claims, designations and data sources, for import-records.")
def export_centers_command(path: Path, format_: str) -> None:
    """Write the whole directory to PATH ("-" for standard output, csv only)."""
    from directory.exchange.hsds import export_package
    from directory.exchange.records import export_records
    from directory.exchange.template import directory_csv_bytes

    if str(path) == "-" and format_ != "csv":
        click.echo(f"--format {format_} writes a zip: give a file name, not -", err=True)
        sys.exit(2)
    writers = {"csv": directory_csv_bytes, "hsds": export_package, "records": export_records}
    data = writers[format_](db.session)
    if str(path) == "-":
        click.echo(data.decode("utf-8"), nl=False)
        return
    path.write_bytes(data)
    total = db.session.scalar(sa.select(sa.func.count(Center.id)))
    click.echo(f"{path}: {total} centers, {len(data):,} bytes ({format_})")


@click.command("import-records")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_records_command(path: Path) -> None:
    """Restore a records export (export-centers --format records) into an EMPTY database:
    the same centers with the same ids, their source records, claims, designations and data
    sources. Runs the migrations first on a database whose schema is behind.

    Exits 2 when the file is not a records export or the database is not empty, 3 when the
    database cannot be written; then nothing is written.
    """
    from directory.exchange.records import RecordsError, import_records

    ensure_schema(click.echo)
    started = time.perf_counter()
    try:
        counts = import_records(db.session, path.read_bytes())
        db.session.commit()
    except RecordsError as exc:
        db.session.rollback()
        click.echo(f"{path}: {exc}", err=True)
        sys.exit(2)
    except DBAPIError as exc:
        db.session.rollback()
        click.echo(f"{path}: {database_problem(exc)}", err=True)
        sys.exit(3)
    try:
        db.session.execute(sa.text("ANALYZE"))  # fresh statistics for the planner
        db.session.commit()
    except DBAPIError:
        db.session.rollback()
    click.echo(f"{path.name}: restored " + ", ".join(
        f"{n:,} {name.replace('_', ' ')}" for name, n in counts.items())
        + f" in {time.perf_counter() - started:.1f} s")


@click.command("jobs")
@click.option("--workers", type=click.IntRange(1, 32), default=None,
              help="Jobs run at once (default JOBS_WORKERS, 1).")
@click.option("--watch-parent", is_flag=True, hidden=True,
              help="Stop when the parent process exits (used by directory.gunicorn_conf).")
def jobs_command(workers: int | None, watch_parent: bool) -> None:
    """Run the background job consumer (imports uploaded on the web) until Ctrl-C /
    SIGTERM. Needed beside a production server unless directory.gunicorn_conf starts it."""
    import logging

    from directory.jobs import consume

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    consume(current_app._get_current_object(),
            workers or current_app.config["JOBS_WORKERS"], watch_parent=watch_parent,
            echo=click.echo)
