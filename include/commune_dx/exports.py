"""Exports for spreadsheet users: every mart as CSV (UTF-8 with BOM) and one XLSX workbook.

Publishing calls these while it builds the next published state, reading the new serving file
through its own DuckDB connection, and swaps the files in afterwards (see ``publishing``).

- ``<table>.csv``: DuckDB's CSV writer (header row, ISO dates, ``true``/``false``, NULL as an
  empty field, timestamps in the connection's time zone with their offset) behind a UTF-8 byte
  order mark, without which Excel reads the file as ANSI and garbles Vietnamese.
- ``marts.xlsx``: a sheet ``About`` (each mart's sheet, table, rows and description), a sheet
  ``Columns`` (each column's header, name, type and description) and one sheet per mart with
  humanised headers. Dates and timestamps are Excel dates (timestamps converted to local time),
  booleans are Excel booleans, NULL is an empty cell, codes stay text (leading zeros kept).
  A mart with one set of rows per night (column ``as_of_date``) shows its latest night only:
  its history would pass Excel's row limit within months at national scale, and writing a
  cell through openpyxl costs far more than through DuckDB's CSV writer; the CSV has every night.
  For the same reason a mart of periods (column ``period``) shows its last ``WORKBOOK_PERIODS``
  periods of each form (the one being filed and the one before): a year of national history
  would otherwise make the workbook, not the marts, the cost of every night.
"""

from __future__ import annotations

import codecs
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from commune_dx.settings import LOCAL_TZ

WORKBOOK_NAME = "marts.xlsx"
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL_CHARS = 32_767
EXCEL_MAX_SHEET_NAME = 31
# Excel reserves this sheet name.
EXCEL_RESERVED_SHEET_NAMES = {"history"}
FETCH_ROWS = 10_000
WORKBOOK_PERIODS = 2
# Not a mart of periods but a list to work through: every version held back, whatever its period.
EVERY_PERIOD = {"quarantine"}
# Types Excel shows as they are; TIMESTAMPTZ and the rest are converted (see _excel_value_sql).
EXCEL_NATIVE_TYPES = {
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "HUGEINT", "UHUGEINT", "DATE", "TIMESTAMP",
}
# Characters XML 1.0 (hence openpyxl) refuses in a cell.
ILLEGAL_XML_CHARS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"


@dataclass(frozen=True)
class ColumnDoc:
    """A mart's column: its name, DuckDB type and dbt description (None if undocumented)."""

    name: str
    data_type: str
    description: str | None


@dataclass(frozen=True)
class MartDoc:
    """A published mart: its table name, dbt description, columns and row count."""

    table: str
    description: str | None
    columns: tuple[ColumnDoc, ...]
    rows: int


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_csv(con: duckdb.DuckDBPyConnection, relation: str, path: Path) -> None:
    """Write ``relation`` to ``path`` as CSV with a header row, in UTF-8 with a byte order mark."""
    body = path.with_name(path.name + ".body")
    con.execute(f"COPY (SELECT * FROM {relation}) TO {sql_literal(str(body))} (FORMAT csv, HEADER)")
    with path.open("wb") as out, body.open("rb") as src:
        out.write(codecs.BOM_UTF8)
        shutil.copyfileobj(src, out)
    body.unlink()


def humanise(column: str) -> str:
    """``dead_zone_villages`` -> ``Dead zone villages``."""
    words = column.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def sheet_names(names: Sequence[str]) -> list[str]:
    """Excel sheet names for ``names``, in order: at most 31 characters, unique ignoring case."""
    used = set(EXCEL_RESERVED_SHEET_NAMES)
    out = []
    for name in names:
        candidate = name if len(name) <= EXCEL_MAX_SHEET_NAME else name[: EXCEL_MAX_SHEET_NAME - 1] + "…"
        n = 1
        while candidate.lower() in used:
            n += 1
            suffix = f"~{n}"
            candidate = name[: EXCEL_MAX_SHEET_NAME - len(suffix)] + suffix
        used.add(candidate.lower())
        out.append(candidate)
    return out


def _excel_value_sql(column: ColumnDoc) -> str:
    """The SELECT expression that gives ``column`` as a value openpyxl writes as Excel would."""
    ident = quote_ident(column.name)
    if column.data_type in EXCEL_NATIVE_TYPES or column.data_type.startswith("DECIMAL"):
        return ident
    if column.data_type == "TIMESTAMP WITH TIME ZONE":
        # Excel has no time zones: local wall-clock time, as the province reads it.
        return f"timezone({sql_literal(LOCAL_TZ)}, {ident})"
    if column.data_type in ("DOUBLE", "FLOAT"):
        return f"CASE WHEN isfinite({ident}) THEN {ident} END"  # Excel has no NaN or infinity
    text = ident if column.data_type == "VARCHAR" else f"CAST({ident} AS VARCHAR)"
    return f"left(regexp_replace({text}, '{ILLEGAL_XML_CHARS}', '', 'g'), {EXCEL_MAX_CELL_CHARS})"


def _type_label(data_type: str) -> str:
    if data_type == "TIMESTAMP WITH TIME ZONE":
        return f"timestamp ({LOCAL_TZ} local time)"
    return data_type.lower()


def _header_row(ws, values: Sequence[str]) -> list[WriteOnlyCell]:
    cells = []
    for value in values:
        cell = WriteOnlyCell(ws, value)
        cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def _text_cell(ws, value: object) -> object:
    """Text that starts with ``=`` stays text: openpyxl would otherwise write it as a formula."""
    if type(value) is str and value.startswith("="):
        cell = WriteOnlyCell(ws, value)
        cell.data_type = "s"
        return cell
    return value


def _table_sheet(wb: Workbook, title: str, header: Sequence[str], rows: Sequence[Sequence[object]],
                 widths: Sequence[int]) -> None:
    ws = wb.create_sheet(title)
    ws.freeze_panes = "A2"
    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.append(_header_row(ws, header))
    for row in rows:
        ws.append([_text_cell(ws, v) for v in row])


@dataclass(frozen=True)
class _SheetRows:
    """Which rows of a mart its sheet shows: ``where`` (SQL, may be empty), how many, and why."""

    where: str
    count: int
    note: str


def _sheet_rows(con: duckdb.DuckDBPyConnection, relation: str, mart: MartDoc) -> _SheetRows:
    where, note = "", "all rows"
    names = {c.name for c in mart.columns}
    if "as_of_date" in names:
        latest = con.execute(f"SELECT max(as_of_date) FROM {relation}").fetchone()[0]
        if latest is not None:
            where = f"WHERE as_of_date = (SELECT max(as_of_date) FROM {relation})"
            note = f"the latest night ({latest}); every night in {mart.table}.csv"
    elif "period" in names and mart.table not in EVERY_PERIOD:
        # Periods of one form share a format (YYYY-MM or YYYY-Qn), so text order is time order.
        form = "form" if "form" in names else "''"
        where = (f"WHERE ({form}, period) IN (SELECT f, period FROM (SELECT f, period, "
                 f"dense_rank() OVER (PARTITION BY f ORDER BY period DESC) AS r FROM "
                 f"(SELECT DISTINCT {form} AS f, period FROM {relation})) WHERE r <= {WORKBOOK_PERIODS})")
        total = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
        if con.execute(f"SELECT count(*) FROM {relation} {where}").fetchone()[0] < total:
            each = " of each form" if "form" in names else ""
            note = f"the last {WORKBOOK_PERIODS} periods{each}; every period in {mart.table}.csv"
        else:
            where = ""
    count = con.execute(f"SELECT count(*) FROM {relation} {where}").fetchone()[0]
    if count > EXCEL_MAX_ROWS - 1:
        count = EXCEL_MAX_ROWS - 1
        note = f"the first {count} (Excel's limit); all in {mart.table}.csv"
    return _SheetRows(where, count, note)


def _mart_sheet(con: duckdb.DuckDBPyConnection, wb: Workbook, title: str, relation: str,
                mart: MartDoc, shown: _SheetRows) -> None:
    ws = wb.create_sheet(title)
    ws.freeze_panes = "A2"
    headers = [humanise(c.name) for c in mart.columns]
    for i, header in enumerate(headers, 1):
        ws.column_dimensions[get_column_letter(i)].width = max(10, min(40, len(header) + 4))
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{shown.count + 1}"
    ws.append(_header_row(ws, headers))
    select = ", ".join(_excel_value_sql(c) for c in mart.columns)
    cur = con.execute(f"SELECT {select} FROM {relation} {shown.where} LIMIT {shown.count}")
    while rows := cur.fetchmany(FETCH_ROWS):
        for row in rows:
            ws.append([_text_cell(ws, v) for v in row])


def write_workbook(con: duckdb.DuckDBPyConnection, schema: str, marts: Sequence[MartDoc],
                   path: Path) -> None:
    """Write ``marts`` (tables of ``schema``) into one workbook at ``path``.

    A nightly mart shows its latest night, a mart of periods its last ``WORKBOOK_PERIODS``
    periods of each form; a mart longer than Excel's row limit, its first rows.
    Sheet ``About`` says which rows each sheet shows; the CSVs hold them all.
    """
    names = sheet_names(["About", "Columns", *(m.table for m in marts)])
    about, columns, mart_titles = names[0], names[1], names[2:]
    relations = [f"{schema}.{quote_ident(m.table)}" for m in marts]
    shown = [_sheet_rows(con, relation, m) for relation, m in zip(relations, marts, strict=True)]
    wb = Workbook(write_only=True)
    _table_sheet(
        wb, about, ["Sheet", "Table", "Rows", "Rows on the sheet", "Which rows", "Description"],
        [(title, m.table, m.rows, rows.count, rows.note, m.description)
         for title, m, rows in zip(mart_titles, marts, shown, strict=True)],
        widths=[34, 34, 10, 16, 40, 100],
    )
    _table_sheet(
        wb, columns, ["Sheet", "Header", "Column", "Type", "Description"],
        [(title, humanise(c.name), c.name, _type_label(c.data_type), c.description)
         for title, m in zip(mart_titles, marts, strict=True) for c in m.columns],
        widths=[34, 30, 30, 24, 100],
    )
    for title, relation, mart, rows in zip(mart_titles, relations, marts, shown, strict=True):
        _mart_sheet(con, wb, title, relation, mart, rows)
    wb.save(path)
