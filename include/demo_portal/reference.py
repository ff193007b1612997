"""Read the bundled reference data the demo portal's units are built from.

The CSVs in ``reference_data`` may start with a UTF-8 BOM, keep codes as text
(leading zeros matter) and are NFC-normalised here whatever form the file uses.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference_data"
COMMUNES_CSV = REFERENCE_DIR / "vn_communes_2025.csv"
AGENCIES_CSV = REFERENCE_DIR / "phu_tho_agencies.csv"


@dataclass(frozen=True)
class CommuneRow:
    """One commune-level unit (xã, phường, đặc khu) of the 2025 reference list."""

    province_code: str
    commune_code: str
    full_name: str
    commune_type: str
    population: int | None


@dataclass(frozen=True)
class AgencyRow:
    """One provincial agency that reports alongside the communes."""

    unit_code: str
    unit_name: str


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip())


@cache
def _read_rows(path: Path) -> tuple[dict[str, str], ...]:
    """The file's rows, read once per process (the national data reads it per province)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return tuple(csv.DictReader(handle))


def read_communes(province_code: str, path: Path = COMMUNES_CSV) -> list[CommuneRow]:
    """The commune-level units of one province, ordered by commune code."""
    rows = [
        CommuneRow(
            province_code=row["province_code"].strip(),
            commune_code=row["commune_code"].strip(),
            full_name=_nfc(row["full_name"]),
            commune_type=row["commune_type"].strip(),
            population=int(row["population"]) if row["population"].strip() else None,
        )
        for row in _read_rows(path)
        if row["province_code"].strip() == province_code
    ]
    return sorted(rows, key=lambda row: row.commune_code)


def read_agencies(province_code: str, path: Path = AGENCIES_CSV) -> list[AgencyRow]:
    """The provincial agencies of one province (codes ``A<province>-…``), in file order.

    Only Phú Thọ (``25``) has an agency list; other provinces get none.
    """
    prefix = f"A{province_code}-"
    return [
        AgencyRow(unit_code=row["unit_code"].strip(), unit_name=_nfc(row["unit_name"]))
        for row in _read_rows(path)
        if row["unit_code"].strip().startswith(prefix)
    ]


def read_province_codes(path: Path = COMMUNES_CSV) -> list[str]:
    """Every province code of the reference list (34 after the 2025 reform), in order."""
    return sorted({row["province_code"].strip() for row in _read_rows(path)})
