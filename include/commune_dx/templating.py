"""The Jinja2 environment of the report's templates (``commune_dx/templates``) and the filters that
write numbers and dates the Vietnamese way (``1.234,5``, ``21/09/2025``).

Autoescaping is on for every template: any value from submissions or the portal (unit names,
notes, errors) is escaped where it is rendered, and only our own CSS and script are marked safe.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined


def vn_number(value: float | None, decimals: int = 0) -> str:
    """``1234.5`` → ``1.234,5`` (Vietnamese separators); None → ``—``."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def vn_pct(rate: float | None, decimals: int = 1) -> str:
    """A rate in [0, 1] as a Vietnamese percentage: ``0.585`` → ``58,5%``; None → ``—``."""
    return "—" if rate is None else f"{vn_number(rate * 100, decimals)}%"


def vn_date(value: date | str | None) -> str:
    """``2025-09-21`` → ``21/09/2025``; None → ``—``."""
    if value is None:
        return "—"
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return day.strftime("%d/%m/%Y")


def vn_period(period: str | None) -> str:
    """``2025-08`` → ``08/2025``; ``2025-Q3`` → ``Q3/2025``; None → ``—``."""
    if not period:
        return "—"
    if len(period) == 7 and period[4] == "-":
        return f"{period[5:]}/{period[:4]}"
    return period


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The report's template environment (autoescaped, strict about undefined names)."""
    env = Environment(
        loader=PackageLoader("commune_dx", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(vn_number=vn_number, vn_pct=vn_pct, vn_date=vn_date, vn_period=vn_period)
    return env
