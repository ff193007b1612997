"""Small inline-SVG charts for the HTML report: the geometry is computed here, the markup comes
from the ``charts.svg.j2`` template (autoescaped), so a chart is one self-contained ``<svg>``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

CHART_WIDTH, CHART_HEIGHT = 460, 210
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 14, 22, 34
PLOT_WIDTH = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
PLOT_HEIGHT = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
ACCENT = "#0b5cad"
# At most this many x labels are written (the others are thinned out).
MAX_X_LABELS = 10
# At most this many values are written above the points of a line chart.
MAX_LINE_LABELS = 6


@dataclass
class ChartPoint:
    """One bar or point: its x label, its value (None = no data) and the text shown above it."""

    label: str
    value: float | None
    text: str


@dataclass
class GridLine:
    y: float
    label: str
    base: bool


@dataclass
class Mark:
    """A point placed on the plot: ``top`` is None when the point has no value."""

    x: float
    top: float | None
    point: ChartPoint
    show_value: bool
    show_label: bool


@dataclass
class Chart:
    """What the chart template draws."""

    title: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_middle_y: float
    base_y: float
    label_y: float
    bar_width: float
    has_data: bool
    grid: list[GridLine]
    marks: list[Mark]
    accent: str = ACCENT

    @property
    def drawn_points(self) -> int:
        """How many points have a value (a line needs two)."""
        return sum(1 for m in self.marks if m.top is not None)

    @property
    def line_points(self) -> str:
        """The polyline through the points that have a value (``x,y x,y …``)."""
        return " ".join(f"{m.x:.1f},{m.top:.1f}" for m in self.marks if m.top is not None)


def _nice_max(values: Sequence[float], floor: float) -> float:
    """A round upper bound for the y axis, at least ``floor``."""
    top = max([*values, floor])
    for power in range(-4, 8):
        for step in (1, 2, 2.5, 5):
            bound = step * 10**power
            if bound >= top:
                return bound
    return top


def layout(title: str, points: Sequence[ChartPoint], y_format: Callable[[float], str],
           floor: float = 1.0, value_labels: int | None = None) -> Chart:
    """Place ``points`` on a plot whose y axis runs from 0 to a round bound (at least ``floor``).

    ``value_labels`` caps how many values are written above their points (None: all of them).
    """
    values = [p.value for p in points if p.value is not None]
    y_max = _nice_max(values, floor)
    count = max(len(points), 1)
    step = PLOT_WIDTH / count
    label_every = max(1, -(-len(points) // MAX_X_LABELS))
    value_every = max(1, -(-len(values) // value_labels)) if value_labels else 1

    def y_of(value: float) -> float:
        return MARGIN_TOP + PLOT_HEIGHT * (1 - value / y_max)

    marks = []
    drawn = 0
    for i, point in enumerate(points):
        top = None if point.value is None else y_of(point.value)
        show_value = False
        if top is not None:
            show_value = drawn % value_every == 0 or drawn == len(values) - 1
            drawn += 1
        marks.append(Mark(x=MARGIN_LEFT + step * (i + 0.5), top=top, point=point, show_value=show_value,
                          show_label=i % label_every == 0 or i == len(points) - 1))
    grid = [GridLine(y_of(y_max * f), y_format(y_max * f), f == 0) for f in (0, 0.5, 1)]
    return Chart(
        title=title, width=CHART_WIDTH, height=CHART_HEIGHT, plot_left=MARGIN_LEFT,
        plot_right=CHART_WIDTH - MARGIN_RIGHT, plot_middle_y=MARGIN_TOP + PLOT_HEIGHT / 2,
        base_y=y_of(0), label_y=CHART_HEIGHT - 12, bar_width=min(56.0, step * 0.6),
        has_data=bool(values), grid=grid, marks=marks,
    )


def _render(macro: str, chart: Chart) -> Markup:
    from commune_dx.templating import environment

    return Markup(getattr(environment().get_template("charts.svg.j2").module, macro)(chart))


def svg_bar_chart(title: str, points: Sequence[ChartPoint], y_format: Callable[[float], str],
                  floor: float = 1.0) -> Markup:
    """A bar chart as an inline SVG element; bars without a value show a dash."""
    return _render("bar_chart", layout(title, points, y_format, floor))


def svg_line_chart(title: str, points: Sequence[ChartPoint], y_format: Callable[[float], str],
                   floor: float = 1.0) -> Markup:
    """A line chart (dots, a few values written) as an inline SVG element."""
    return _render("line_chart", layout(title, points, y_format, floor, value_labels=MAX_LINE_LABELS))
