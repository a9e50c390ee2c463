"""An interactive SQL shell over a run's views (``v2x sql RUN`` with no query).

Statements end with ``;``, may span lines, and several may share a line (each result is
printed, as DuckDB's own shell does).  Dot commands: ``.tables`` (views, tables and macros),
``.schema NAME`` (its columns), ``.describe NAME`` (its columns with their meaning and unit), ``.format table|csv|json``, ``.help``, ``.quit``; one typed in the
middle of an unfinished statement runs, and the statement goes on.  A failing statement prints
DuckDB's error and the shell goes on; Ctrl-C cancels the line being typed or the running query,
Ctrl-D leaves.  Typed lines are kept in ``~/.v2x_sql_history``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import duckdb
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json")
HISTORY = Path.home() / ".v2x_sql_history"
CANCEL = "\x03"  # a line that cancels the statement being typed (Ctrl-C at the prompt)
HELP = """statements end with ';' (several on a line are run in turn)
.tables           views, tables and macros
.schema NAME      columns of a view, table or table macro (with its arguments)
.describe NAME    what a view and each of its columns mean, with units
.format FORMAT    table, csv or json
.quit             leave (or Ctrl-D); Ctrl-C cancels the line or the running query"""


def render(cursor: duckdb.DuckDBPyConnection, fmt: str, out: TextIO) -> None:
    """Print the result of the last statement on ``cursor`` as a table, CSV or JSON lines."""
    if cursor.description is None:
        return
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
        out.write(buffer.getvalue())
    elif fmt == "json":
        for row in rows:
            out.write(json.dumps(dict(zip(names, row)), default=str) + "\n")
    else:
        table = Table()
        for name in names:
            table.add_column(name)
        for row in rows:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        Console(file=out, width=max(100, Console().width)).print(table)
        out.write(f"{len(rows)} row{'s' if len(rows) != 1 else ''}\n")


def catalogue(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, name, kind) of every view, table and macro an analyst can use."""
    rows = con.execute(
        "SELECT schema_name, table_name, 'table' FROM duckdb_tables() WHERE NOT internal AND table_name NOT LIKE '\\_%' ESCAPE '\\' "
        "UNION SELECT schema_name, view_name, 'view' FROM duckdb_views() WHERE NOT internal "
        "UNION SELECT schema_name, function_name || '(' || array_to_string(parameters, ', ') || ')', "
        "  CASE function_type WHEN 'table_macro' THEN 'table macro' ELSE 'macro' END "
        "FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro') AND NOT internal ORDER BY ALL"
    ).fetchall()
    return [(s, n, k) for s, n, k in rows if s not in ("pg_catalog", "information_schema")]


def describe(con: duckdb.DuckDBPyConnection, name: str, fmt: str, out: TextIO) -> int:
    """Print what view or table ``name`` (``bsm``, ``run2.bsm``) means and each column's type and
    meaning (:mod:`pipeline.sql.columns`); returns 1 if there is no such view or table."""
    schema, _, table = name.rpartition(".")
    found = con.execute(
        "SELECT comment FROM duckdb_views() WHERE schema_name = $1 AND view_name = $2 AND NOT internal "
        "UNION ALL SELECT comment FROM duckdb_tables() WHERE schema_name = $1 AND table_name = $2",
        [schema or "main", table],
    ).fetchall()
    if not table or not found:
        out.write(f"error: no view or table {name!r} (.tables lists them; .schema NAME shows a macro's columns)\n")
        return 1
    if found[0][0] and fmt == "table":
        out.write(f"{name}: {found[0][0]}\n")
    query = (
        "SELECT column_name AS column, data_type AS type, comment AS meaning FROM duckdb_columns() "
        "WHERE schema_name = ? AND table_name = ? ORDER BY column_index"
    )
    render(con.execute(query, [schema or "main", table]), fmt, out)
    return 0


def statements(lines: Iterable[str], prompt: Callable[[str], None]) -> Iterable[str]:
    """Complete statements (up to ';') and dot commands from ``lines``."""
    pending: list[str] = []
    prompt("v2x> ")
    for line in lines:
        stripped = line.strip()
        if line == CANCEL:
            pending = []
        elif stripped.startswith("."):
            yield stripped  # also in the middle of a statement, which goes on
        elif stripped:
            pending.append(line.rstrip("\n"))
            if stripped.endswith(";"):
                yield "\n".join(pending)
                pending = []
        prompt("...> " if pending else "v2x> ")
    if pending:
        yield "\n".join(pending)


def run_shell(
    con: duckdb.DuckDBPyConnection, lines: Iterable[str], out: TextIO = sys.stdout, interactive: bool = False, fmt: str = "table"
) -> int:
    """Read statements from ``lines`` and print their results; returns how many failed."""
    failed = 0

    def prompt(text: str) -> None:
        if interactive:
            out.write(text)
            out.flush()

    for statement in statements(lines, prompt):
        command, _, argument = statement.partition(" ")
        if command in (".quit", ".exit"):
            break
        if command == ".help":
            out.write(HELP + "\n")
        elif command == ".tables":
            for schema, name, kind in catalogue(con):
                out.write(f"{name if schema == 'main' else schema + '.' + name}  ({kind})\n")
        elif command == ".schema":
            try:
                render(con.execute(f"DESCRIBE SELECT * FROM {argument.strip().rstrip(';')}"), "table", out)
            except duckdb.Error as exc:
                failed += 1
                out.write(f"error: {exc}\n")
        elif command == ".describe":
            failed += describe(con, argument.strip().rstrip(";"), fmt, out)
        elif command == ".format":
            if argument.strip() in FORMATS:
                fmt = argument.strip()
            else:
                out.write(f"formats: {', '.join(FORMATS)}\n")
        elif statement.startswith("."):
            out.write(f"unknown command {command}; .help lists them\n")
        else:
            failed += execute(con, statement, fmt, out)
    return failed


def execute(con: duckdb.DuckDBPyConnection, text: str, fmt: str, out: TextIO, errors: TextIO | None = None) -> int:
    """Run each statement of ``text`` in turn, printing each result to ``out``; stops at the
    first error (printed to ``errors``, default ``out``) and returns 1, else 0.  Ctrl-C cancels
    the running statement."""
    errors = errors or out
    try:
        parts = [s.query for s in con.extract_statements(text)]
    except duckdb.Error as exc:
        errors.write(f"error: {exc}\n")
        return 1
    for part in parts:
        try:
            render(con.execute(part), fmt, out)
        except (duckdb.Error, RuntimeError, ValueError) as exc:  # the SQL's error, not a traceback
            errors.write(f"error: {exc}\n")
            return 1
        except KeyboardInterrupt:
            con.interrupt()
            errors.write("cancelled\n")
            return 1
    return 0


def stdin_lines(interactive: bool) -> Iterable[str]:
    """Lines typed at a terminal (with line editing and history where readline exists) or piped in."""
    if not interactive:
        yield from sys.stdin
        return
    try:
        import readline  # line editing and history for input()
    except ImportError:
        readline = None  # type: ignore[assignment]
    if readline is not None:
        try:
            readline.read_history_file(HISTORY)
        except OSError:
            pass  # no history yet
    try:
        while True:
            try:
                yield input() + "\n"
            except KeyboardInterrupt:
                sys.stdout.write("^C\n")
                yield CANCEL
            except EOFError:
                return
    finally:
        if readline is not None:
            try:
                readline.write_history_file(HISTORY)
            except OSError:
                pass  # a read-only home: history is a convenience
