"""Deterministic demo data for the demo portal: units, the task catalogue and submissions.

``build_demo_dataset()`` builds, for one province (default Phú Thọ, ``25``), what a provincial
reporting portal would hold on the evening of 21 September 2025: the reporting units, the
Resolution 57 task catalogue (Nghị quyết 57-NQ/TW — the Politburo's resolution on science,
technology, innovation and digital transformation) and every published version of every
submission, exactly as ``GET /api/v1/submissions`` serves them.

The numbers are built so that, after MARTS.md's counting rules, they reproduce the figures
the province published for 21 September 2025: 135 centrally assigned tasks, 79 completed and
56 not; 24 villages in mobile dead zones (``trắng sóng`` — no signal, plus ``lõm sóng`` — weak
signal) in the August connectivity reports; phase 1 of the central monitoring plan Green
(trạng thái Xanh) for the province since July 2025 and for all 148 communes, phase 2 (the
central tasks) under way; and the units' 2025-Q3 capacity reports. On top of the clean data
sits the mess real portals have — corrections, withdrawals, invalid versions (some newer than
a valid one), late and missing reports, NFD text, markup and SQL in free text — each placed
so that a pipeline applying the rules correctly still gets the published figures, and one
that skips a rule does not.

Same arguments, same output, byte for byte: all randomness comes from ``random.Random``
instances seeded from the ``seed`` argument and a fixed label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from demo_portal.capacity_data import add_capacity_mess, file_capacity_reports
from demo_portal.monthly_data import (
    DEAD_ZONE_VILLAGES_2025_08,
    add_monthly_mess,
    assign_commune_roles,
    file_monthly_reports,
)
from demo_portal.reference import (
    COMMUNES_CSV,
    AgencyRow,
    CommuneRow,
    read_agencies,
    read_communes,
)
from demo_portal.submission_log import (
    DATA_END,
    FIGURES_AS_OF,
    Record,
    SubmissionLog,
    seeded_rng,
)
from demo_portal.task_data import (
    CENTRAL_COMPLETED,
    CENTRAL_TASKS,
    TaskPlan,
    add_task_report_mess,
    file_task_reports,
    plan_tasks,
)

__all__ = [
    "CENTRAL_COMPLETED",
    "CENTRAL_TASKS",
    "DATA_END",
    "DEAD_ZONE_VILLAGES_2025_08",
    "FIGURES_AS_OF",
    "DemoDataset",
    "build_demo_dataset",
    "build_province_data",
]

ACTIVE_FROM = "2025-07-01"


@dataclass
class DemoDataset:
    """What the demo portal serves: units, tasks and every submission version.

    Each list holds JSON-ready dicts exactly as the API returns them; ``submissions`` is
    ordered like the listing, by (updated_at, submission_id, version).
    """

    units: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    submissions: list[dict[str, Any]]


def build_demo_dataset(province_code: str = "25", seed: int = 57) -> DemoDataset:
    """Build the demo portal's data for one province; same arguments, identical output."""
    return build_province_data(province_code, seed)[0]


def build_province_data(province_code: str, seed: int) -> tuple[DemoDataset, list[TaskPlan]]:
    """The province's demo dataset and the task timelines behind it (``national_data`` files
    more task reports from them)."""
    communes = read_communes(province_code)
    if not communes:
        raise ValueError(f"no commune of province {province_code!r} in {COMMUNES_CSV}")
    agencies = read_agencies(province_code)
    holders = [agency.unit_code for agency in agencies] or _fallback_holders(seed, communes)
    unit_names = {a.unit_code: a.unit_name for a in agencies}
    unit_names.update({c.commune_code: c.full_name for c in communes})
    plans = plan_tasks(seed, holders, [c.commune_code for c in communes], unit_names)
    log = SubmissionLog()
    file_task_reports(log, seed, plans)
    add_task_report_mess(log, seed, plans, holders)
    roles = assign_commune_roles(seed, communes)
    file_monthly_reports(log, seed, communes, roles)
    add_monthly_mess(log, seed, roles)
    commune_codes = [c.commune_code for c in communes]
    filed = file_capacity_reports(log, seed, [a.unit_code for a in agencies], commune_codes)
    add_capacity_mess(log, seed, filed)
    dataset = DemoDataset(
        units=_build_units(province_code, communes, agencies),
        tasks=[plan.as_task() for plan in plans],
        submissions=log.records(),
    )
    return dataset, plans


def _build_units(province_code: str, communes: list[CommuneRow], agencies: list[AgencyRow]) -> list[Record]:
    """The reporting units: the province's communes, then its agencies."""
    units = [
        {
            "unit_code": c.commune_code,
            "unit_name": c.full_name,
            "unit_type": c.commune_type,
            "province_code": province_code,
            "population": c.population,
            "active_from": ACTIVE_FROM,
            "active_to": None,
        }
        for c in communes
    ]
    units += [
        {
            "unit_code": a.unit_code,
            "unit_name": a.unit_name,
            "unit_type": "agency",
            "province_code": province_code,
            "population": None,
            "active_from": ACTIVE_FROM,
            "active_to": None,
        }
        for a in agencies
    ]
    return units


def _fallback_holders(seed: int, communes: list[CommuneRow]) -> list[str]:
    """Provinces without an agency list: 16 communes carry the central tasks instead."""
    codes = [c.commune_code for c in communes]
    return sorted(seeded_rng(seed, "holders").sample(codes, min(16, len(codes))))
