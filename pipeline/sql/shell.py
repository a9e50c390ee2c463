"""An interactive SQL shell over a run's views (``v2x sql RUN`` with no query).

Statements end with ``;`` and may span lines.  Dot commands: ``.tables`` (views, tables and
macros), ``.schema NAME`` (its columns), ``.format table|csv|json``, ``.help``, ``.quit``.
A failing statement prints DuckDB's error and the shell goes on.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

import duckdb
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json")
HELP = """statements end with ';'
.tables           views, tables and macros
.schema NAME      columns of a view, table or table macro (with its arguments)
.format FORMAT    table, csv or json
.quit             leave (or Ctrl-D)"""


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


def statements(lines: Iterable[str], prompt: Callable[[str], None]) -> Iterable[str]:
    """Complete statements (up to ';') and dot commands from ``lines``."""
    pending: list[str] = []
    prompt("v2x> ")
    for line in lines:
        stripped = line.strip()
        if not pending and stripped.startswith("."):
            yield stripped
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
        elif command == ".format":
            if argument.strip() in FORMATS:
                fmt = argument.strip()
            else:
                out.write(f"formats: {', '.join(FORMATS)}\n")
        elif statement.startswith("."):
            out.write(f"unknown command {command}; .help lists them\n")
        else:
            try:
                render(con.execute(statement), fmt, out)
            except duckdb.Error as exc:
                failed += 1
                out.write(f"error: {exc}\n")
    return failed


def stdin_lines(interactive: bool) -> Iterable[str]:
    """Lines typed at a terminal (with line editing and history where readline exists) or piped in."""
    if not interactive:
        yield from sys.stdin
        return
    try:
        import readline  # noqa: F401  (line editing for input())
    except ImportError:
        pass
    while True:
        try:
            yield input() + "\n"
        except EOFError:
            return
