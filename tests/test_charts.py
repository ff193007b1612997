"""The report's inline SVG charts (``commune_dx.charts``): well-formed, escaped, scaled to a round
bound, and legible however many points they get."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from commune_dx.charts import MAX_LINE_LABELS, MAX_X_LABELS, ChartPoint, layout, svg_bar_chart, svg_line_chart
from commune_dx.templating import vn_number, vn_pct


def _texts(chart, css_class: str) -> list[str]:
    root = ET.fromstring(chart)
    return [t.text or "" for t in root.iter("text") if t.get("class") == css_class]


@pytest.mark.parametrize("values", [[], [None], [0.5], [0.2, None, 0.9], [0.0, 0.0], [1.0] * 40])
def test_charts_are_well_formed_svg(values):
    points = [ChartPoint(f"{i:02d}/2025", v, vn_pct(v)) for i, v in enumerate(values, 1)]
    for chart in (svg_bar_chart("t <&>", points, vn_pct), svg_line_chart("t <&>", points, vn_pct)):
        root = ET.fromstring(chart)
        assert root.tag == "svg"
        labels = [t.text or "" for t in root.iter("text")]
        if any(v is not None for v in values):
            assert any(label.endswith("%") for label in labels)


def test_the_y_axis_runs_from_zero_to_a_round_bound_at_least_the_floor():
    def grid(values, floor):
        chart = layout("t", [ChartPoint(str(i), v, "") for i, v in enumerate(values)], "{:g}".format, floor)
        return [g.label for g in chart.grid]

    assert grid([3, 7], floor=1.0) == ["0", "5", "10"]
    assert grid([12], floor=1.0) == ["0", "10", "20"]
    assert grid([21], floor=1.0) == ["0", "12.5", "25"]
    assert grid([0.2, 0.4], floor=1.0) == ["0", "0.5", "1"]  # the floor: a rate's axis reaches 100 %
    assert grid([], floor=5.0) == ["0", "2.5", "5"]


def test_a_higher_value_is_drawn_higher_and_a_missing_one_is_a_dash():
    points = [ChartPoint("07/2025", 10, "10"), ChartPoint("08/2025", None, "—"),
              ChartPoint("09/2025", 20, "20")]
    chart = layout("t", points, vn_number)
    first, missing, last = chart.marks
    assert missing.top is None and last.top < first.top < chart.base_y  # SVG's y grows downwards
    root = ET.fromstring(svg_bar_chart("t", points, vn_number))
    assert len(list(root.iter("rect"))) == 2
    assert _texts(svg_bar_chart("t", points, vn_number), "value") == ["10", "—", "20"]


def test_many_points_keep_the_labels_few_and_the_last_one_shown():
    points = [ChartPoint(f"{n:02d}", float(n), f"{n}") for n in range(1, 41)]
    x_labels = [m.point.label for m in layout("t", points, vn_number).marks if m.show_label]
    assert len(x_labels) <= MAX_X_LABELS + 1 and x_labels[0] == "01" and x_labels[-1] == "40"
    values = _texts(svg_line_chart("t", points, vn_number), "value")
    assert len(values) <= MAX_LINE_LABELS + 1 and values[-1] == "40"
    assert len(_texts(svg_bar_chart("t", points, vn_number), "value")) == 40  # bars: every value


def test_a_chart_without_data_says_so():
    chart = svg_line_chart("t", [ChartPoint("07/2025", None, "—")], vn_pct)
    assert any("no data yet" in text for text in _texts(chart, "axis"))
    assert ET.fromstring(chart).find("polyline") is None
