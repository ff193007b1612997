"""The report's template environment and its Vietnamese filters (``commune_dx.templating``)."""

from __future__ import annotations

from datetime import date

import pytest
from jinja2 import UndefinedError

from commune_dx.templating import environment, vn_date, vn_number, vn_pct, vn_period


@pytest.mark.parametrize(("value", "decimals", "text"), [
    (1234.5, 1, "1.234,5"), (1234567, 0, "1.234.567"), (0, 0, "0"), (-1234.56, 2, "-1.234,56"),
    (999.96, 1, "1.000,0"), (None, 0, "—"),
])
def test_numbers_use_vietnamese_separators(value, decimals, text):
    assert vn_number(value, decimals) == text


def test_rates_dates_and_periods_read_the_vietnamese_way():
    assert (vn_pct(0.585), vn_pct(1.0, 0), vn_pct(0.0), vn_pct(None)) == ("58,5%", "100%", "0,0%", "—")
    assert vn_date(date(2025, 9, 21)) == vn_date("2025-09-21") == "21/09/2025"
    assert (vn_period("2025-08"), vn_period("2025-Q3"), vn_period(None)) == ("08/2025", "Q3/2025", "—")
    with pytest.raises(ValueError):
        vn_date("21/09/2025")  # not an ISO date: never guessed


def test_templates_escape_every_value_and_refuse_undefined_names():
    env = environment()
    page = env.from_string("<p>{{ name }}: {{ rate | vn_pct }}</p>").render(
        name='<script>alert("x")</script> & Xã', rate=0.25)
    assert page == "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Xã: 25,0%</p>"
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.get_template("charts.svg.j2") is not None  # the package's own templates load
