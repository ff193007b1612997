"""The demo's task catalogue (Resolution 57 tasks) and the units' task reports.

Each task gets a timeline (start, completion, deadline) from which every task report's entry
follows; exactly ``CENTRAL_COMPLETED`` of the ``CENTRAL_TASKS`` central tasks are completed by
the last report period. The mess added on top (corrections, a withdrawn duplicate, invalid
versions) never changes which entry counts under MARTS.md's rules.
"""

from __future__ import annotations

import copy
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from demo_portal.submission_log import (
    DATA_END,
    FIGURES_AS_OF,
    Payload,
    Record,
    RolePicker,
    SubmissionLog,
    day_between,
    later,
    local_time,
    seeded_rng,
    stamp,
)

# Task reports are "as of" these days.
TASK_REPORT_PERIODS = (date(2025, 7, 31), date(2025, 8, 31), date(2025, 9, 15))
LAST_TASK_REPORT = TASK_REPORT_PERIODS[-1]
# Tasks from the centre (TW57-…: Resolution 57) and the province's own (PT-…).
CENTRAL_PREFIX = "TW57"
PROVINCIAL_PREFIX = "PT"
CENTRAL_TASKS = 135
CENTRAL_COMPLETED = 79
PROVINCIAL_AGENCY_TASKS = 28
PROVINCIAL_TASK_COMMUNES = 6
PROVINCIAL_TASKS_PER_COMMUNE = 2
# When tasks were assigned, and how late open tasks' deadlines fall.
FIRST_ASSIGNMENT = date(2025, 2, 1)
LAST_ASSIGNMENT = date(2025, 7, 31)
LAST_OVERDUE_DEADLINE = date(2025, 9, 20)
LATEST_DEADLINE = date(2025, 12, 31)
# Phases (giai đoạn) of the central monitoring plan. Phase 1: one task for every unit (two for
# each agency), assigned when the units started on 1 July 2025, all completed in July, the last
# agency's on PHASE_ONE_GREEN_SINCE: the province is Green (trạng thái Xanh) for phase 1 since
# that day and every commune is Green too. The central Resolution 57 tasks are phase 2, under way.
PHASE_ONE_PREFIX = "GD1"
PHASE_ONE_ASSIGNED = date(2025, 7, 1)
PHASE_ONE_DEADLINE = date(2025, 7, 31)
PHASE_ONE_GREEN_SINCE = date(2025, 7, 25)
PHASE_ONE_AGENCY_TASKS = 2
CENTRAL_PHASE = 2
PHASE_ONE_TITLES: tuple[tuple[str, str], ...] = (
    ("institutions", "Kiện toàn Ban Chỉ đạo về khoa học, công nghệ, đổi mới sáng tạo và chuyển đổi số"),
    ("human_resources", "Phân công cán bộ phụ trách chuyên sâu về chuyển đổi số"),
    ("digital_government", "Vận hành hệ thống quản lý văn bản, điều hành sau sắp xếp đơn vị hành chính"),
    ("digital_government", "Cập nhật thủ tục hành chính trên Cổng dịch vụ công quốc gia"),
    ("infrastructure", "Bảo đảm kết nối mạng truyền số liệu chuyên dùng tại trụ sở mới"),
)

TASK_TITLES: dict[str, tuple[str, ...]] = {
    "institutions": (
        "Rà soát, đề xuất sửa đổi văn bản cản trở chuyển đổi số",
        "Ban hành kế hoạch thực hiện Nghị quyết 57-NQ/TW năm 2025",
        "Xây dựng quy chế vận hành hệ thống thông tin dùng chung",
        "Công bố danh mục dữ liệu mở và kế hoạch mở dữ liệu",
    ),
    "infrastructure": (
        "Xóa vùng lõm sóng di động tại các thôn, bản vùng cao",
        "Nâng cấp mạng truyền số liệu chuyên dùng đến cấp xã",
        "Phủ sóng 5G tại trung tâm hành chính",
        "Trang bị máy tính, thiết bị cho bộ phận một cửa",
        "Bảo đảm an toàn thông tin theo cấp độ cho hệ thống thông tin",
    ),
    "digital_government": (
        "Cung cấp dịch vụ công trực tuyến toàn trình cho thủ tục đủ điều kiện",
        "Số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
        "Kết nối hệ thống quản lý văn bản với Trục liên thông văn bản quốc gia",
        "Khai thác dữ liệu dân cư, VNeID trong giải quyết thủ tục hành chính",
        "Cấp chữ ký số cho cán bộ, công chức",
    ),
    "digital_economy": (
        "Hỗ trợ hộ kinh doanh, hợp tác xã bán hàng trên sàn thương mại điện tử",
        "Thúc đẩy thanh toán không dùng tiền mặt tại chợ, điểm du lịch",
        "Xây dựng bản đồ số sản phẩm OCOP",
        "Hỗ trợ doanh nghiệp nhỏ và vừa chuyển đổi số",
    ),
    "digital_society": (
        "Triển khai phong trào “Bình dân học vụ số”",
        "Duy trì hoạt động tổ công nghệ số cộng đồng",
        "Hướng dẫn người dân kích hoạt tài khoản định danh điện tử mức 2",
        "Tuyên truyền kỹ năng phòng, chống lừa đảo trực tuyến",
    ),
    "human_resources": (
        "Bồi dưỡng kỹ năng số cho cán bộ, công chức, viên chức",
        "Bố trí cán bộ chuyên trách công nghệ thông tin",
        "Tập huấn an toàn thông tin cho quản trị hệ thống",
    ),
    "science_technology": (
        "Đặt hàng nhiệm vụ khoa học và công nghệ phục vụ chuyển đổi số",
        "Ứng dụng trí tuệ nhân tạo trong xử lý văn bản, hồ sơ",
        "Hỗ trợ hoạt động đổi mới sáng tạo, khởi nghiệp",
        "Xây dựng cơ sở dữ liệu chuyên ngành dùng chung",
    ),
}

TASK_NOTES: dict[str, tuple[str, ...]] = {
    "not_started": (
        "Chờ hướng dẫn của bộ, ngành Trung ương",
        "Chưa bố trí được kinh phí năm 2025",
        "Đang xây dựng kế hoạch triển khai",
    ),
    "in_progress": (
        "Đang triển khai, dự kiến hoàn thành trong quý IV/2025",
        "Đã trình Ủy ban nhân dân tỉnh xem xét, phê duyệt",
        "Đang khảo sát hiện trạng tại các thôn, bản vùng cao",
        "Nhà mạng đang lắp đặt trạm BTS, còn vướng mặt bằng",
        "Đang lựa chọn đơn vị tư vấn",
        "Đã hoàn thành 2/3 hạng mục",
    ),
    "completed": (
        "Đã hoàn thành, đã báo cáo Ban Chỉ đạo tỉnh",
        "Hoàn thành, chờ nghiệm thu, bàn giao",
        "Đã ban hành văn bản hướng dẫn",
        "Hoàn thành trước thời hạn",
    ),
}

# Free text is data (MARTS.md rule 4): these must come out of the pipeline verbatim.
SCRIPT_NOTE = "Kết quả xem tại cổng thông tin <script>alert(1)</script>"
SQL_NOTE = "Số liệu lấy từ phần mềm cũ '; DROP TABLE x; --"
NFD_NOTE = unicodedata.normalize("NFD", "Đã lắp 3 trạm BTS\nCòn 2 thôn “lõm sóng” ở bản Mường")


@dataclass(frozen=True)
class TaskPlan:
    """One catalogue task and how its work unfolds over the summer (the demo's ground truth)."""

    task_code: str
    title: str
    task_group: str
    source: str
    unit_code: str
    assigned_on: date
    deadline: date
    started_on: date | None
    completed_on: date | None
    final_pct: int
    phase: int | None = None

    def as_task(self) -> Record:
        """The task as ``GET /api/v1/tasks`` lists it (``phase`` null: the task has none)."""
        return {
            "task_code": self.task_code,
            "title": self.title,
            "task_group": self.task_group,
            "source": self.source,
            "assigned_unit_code": self.unit_code,
            "assigned_on": self.assigned_on.isoformat(),
            "deadline": self.deadline.isoformat(),
            "phase": self.phase,
        }

    def progress_at(self, period: date) -> tuple[str, int, date | None]:
        """(status, progress_pct, completed_on) as the unit reports it as of ``period``."""
        if self.completed_on is not None and self.completed_on <= period:
            return "completed", 100, self.completed_on
        if self.started_on is None or self.started_on > period:
            return "not_started", 0, None
        target_day = self.completed_on or LAST_TASK_REPORT
        target_pct = 95 if self.completed_on else self.final_pct
        span = max(1, (target_day - self.started_on).days)
        share = min(1.0, (period - self.started_on).days / span)
        pct = 5 * round(target_pct * share / 5)
        return "in_progress", max(5, min(target_pct, pct)), None


class _TitlePicker:
    """Hands out task titles without repeating one for the same unit."""

    def __init__(self, seed: int, unit_names: dict[str, str]) -> None:
        self._seed = seed
        self._names = unit_names
        self._queues: dict[str, list[tuple[str, str]]] = {}

    def next(self, unit_code: str) -> tuple[str, str]:
        """(task_group, title) for the unit's next task."""
        queue = self._queues.get(unit_code)
        if not queue:
            queue = [(g, t) for g, titles in TASK_TITLES.items() for t in titles]
            seeded_rng(self._seed, "titles", unit_code, len(self._queues)).shuffle(queue)
            self._queues[unit_code] = queue
        group, title = queue.pop()
        return group, f"{title} ({self._names[unit_code]})"


def _central_counts(rng: random.Random, holders: list[str]) -> list[tuple[str, int]]:
    """How many central tasks each holder gets: as even as possible, extras at random."""
    base, extra = divmod(CENTRAL_TASKS, len(holders))
    lucky = set(rng.sample(holders, extra))
    return [(code, base + (code in lucky)) for code in holders]


def _plan_timeline(
    rng: random.Random, assigned_on: date, completed: bool
) -> tuple[date, date | None, date | None, int]:
    """(deadline, started_on, completed_on, final_pct) of one task."""
    if completed:
        earliest = assigned_on + timedelta(days=14)
        completed_on = day_between(rng, earliest, LAST_TASK_REPORT)
        lead = min(20, (completed_on - assigned_on).days - 1)
        started_on = assigned_on + timedelta(days=rng.randint(0, lead))
        if rng.random() < 0.2:
            latest = completed_on - timedelta(days=3)
            deadline = max(assigned_on + timedelta(days=7), latest - timedelta(rng.randint(0, 40)))
        else:
            deadline = completed_on + timedelta(days=rng.randint(0, 75))
        return deadline, started_on, completed_on, 100
    earliest_deadline = assigned_on + timedelta(days=30)
    if rng.random() < 0.4 and earliest_deadline <= LAST_OVERDUE_DEADLINE:
        deadline = day_between(rng, earliest_deadline, LAST_OVERDUE_DEADLINE)
    else:
        deadline = day_between(rng, FIGURES_AS_OF + timedelta(days=1), LATEST_DEADLINE)
    if rng.random() < 0.85:
        started_on = min(assigned_on + timedelta(days=rng.randint(0, 40)), date(2025, 9, 10))
        return deadline, started_on, None, rng.randrange(10, 100, 5)
    return deadline, None, None, 0


def _numbered(
    drafts: list[tuple[date, str, bool]],
    prefix: str,
    source: str,
    rng: random.Random,
    titles: _TitlePicker,
) -> list[TaskPlan]:
    """Turn (assigned_on, unit, completed) drafts into plans coded in assignment order."""
    plans = []
    for number, (assigned_on, unit_code, completed) in enumerate(sorted(drafts), start=1):
        group, title = titles.next(unit_code)
        deadline, started_on, completed_on, final_pct = _plan_timeline(rng, assigned_on, completed)
        plans.append(
            TaskPlan(
                task_code=f"{prefix}-{number:03d}",
                title=title,
                task_group=group,
                source=source,
                unit_code=unit_code,
                assigned_on=assigned_on,
                deadline=deadline,
                started_on=started_on,
                completed_on=completed_on,
                final_pct=final_pct,
            )
        )
    return plans


def _with_boundary_deadlines(plans: list[TaskPlan]) -> list[TaskPlan]:
    """Put one open task's deadline on the as-of date and one completion on its deadline."""
    open_index = next(i for i, p in enumerate(plans) if p.completed_on is None)
    done_index = next(
        i for i, p in enumerate(plans) if p.completed_on is not None and p.completed_on <= p.deadline
    )
    plans = list(plans)
    plans[open_index] = replace(plans[open_index], deadline=FIGURES_AS_OF)
    plans[done_index] = replace(plans[done_index], deadline=plans[done_index].completed_on)
    return plans


def plan_tasks(
    seed: int, holders: list[str], communes: list[str], unit_names: dict[str, str]
) -> list[TaskPlan]:
    """The task catalogue with each task's timeline: 135 central tasks (phase 2), 40
    provincial ones (no phase), then the phase-1 tasks of every unit.

    Exactly ``CENTRAL_COMPLETED`` central tasks are completed by the last task report's
    period, so they are the ones completed as of ``FIGURES_AS_OF``.
    """
    rng = seeded_rng(seed, "tasks")
    titles = _TitlePicker(seed, unit_names)
    outcomes = [True] * CENTRAL_COMPLETED + [False] * (CENTRAL_TASKS - CENTRAL_COMPLETED)
    rng.shuffle(outcomes)
    central_units = [code for code, n in _central_counts(rng, holders) for _ in range(n)]
    central = [
        (day_between(rng, FIRST_ASSIGNMENT, LAST_ASSIGNMENT), code, done)
        for code, done in zip(central_units, outcomes, strict=True)
    ]
    provincial = [
        (day_between(rng, FIRST_ASSIGNMENT, LAST_ASSIGNMENT), rng.choice(holders), rng.random() < 0.45)
        for _ in range(PROVINCIAL_AGENCY_TASKS)
    ]
    task_communes = rng.sample(sorted(set(communes) - set(holders)), PROVINCIAL_TASK_COMMUNES)
    provincial += [
        (day_between(rng, date(2025, 7, 1), LAST_ASSIGNMENT), code, rng.random() < 0.45)
        for code in task_communes
        for _ in range(PROVINCIAL_TASKS_PER_COMMUNE)
    ]
    central_plans = _with_boundary_deadlines(_numbered(central, CENTRAL_PREFIX, "central", rng, titles))
    central_plans = [replace(plan, phase=CENTRAL_PHASE) for plan in central_plans]
    provincial_plans = _numbered(provincial, PROVINCIAL_PREFIX, "provincial", rng, titles)
    agencies = sorted(set(holders) - set(communes))
    return central_plans + provincial_plans + _phase_one(seed, agencies, communes, unit_names)


def _phase_one(
    seed: int, agencies: list[str], communes: list[str], unit_names: dict[str, str]
) -> list[TaskPlan]:
    """Phase 1 of the central monitoring plan, completed in July by every unit.

    The province's Green status dates from PHASE_ONE_GREEN_SINCE: the last phase-1 completion
    of an agency falls on that day (with no agency, a commune's does); every other phase-1
    task is completed before it.
    """
    rng = seeded_rng(seed, "phase-1")
    units = [(code, PHASE_ONE_AGENCY_TASKS) for code in agencies] + [(code, 1) for code in sorted(communes)]
    plans = []
    for unit_code, count in units:
        for title_index in rng.sample(range(len(PHASE_ONE_TITLES)), count):
            group, title = PHASE_ONE_TITLES[title_index]
            completed_on = day_between(rng, date(2025, 7, 7), PHASE_ONE_GREEN_SINCE - timedelta(days=1))
            plans.append(
                TaskPlan(
                    task_code=f"{PHASE_ONE_PREFIX}-{len(plans) + 1:03d}",
                    title=f"{title} ({unit_names[unit_code]})",
                    task_group=group,
                    source="provincial",
                    unit_code=unit_code,
                    assigned_on=PHASE_ONE_ASSIGNED,
                    deadline=PHASE_ONE_DEADLINE,
                    started_on=PHASE_ONE_ASSIGNED + timedelta(days=rng.randint(0, 3)),
                    completed_on=completed_on,
                    final_pct=100,
                    phase=1,
                )
            )
    last = rng.choice([p for p in plans if p.unit_code in agencies] or plans)
    plans[plans.index(last)] = replace(last, completed_on=PHASE_ONE_GREEN_SINCE)
    return plans


def _task_report_time(rng: random.Random, period: date) -> datetime:
    """On the period date (afternoon) or up to 3 days later, during the working day."""
    days_after = rng.choice((0, 0, 1, 1, 2, 3))
    earliest = 14 * 3600 if days_after == 0 else 7 * 3600 + 1800
    return local_time(period + timedelta(days=days_after), rng.randint(earliest, 20 * 3600))


def _note(seed: int, plan: TaskPlan, period: date, status: str) -> str | None:
    """The free-text note on a task entry, if any (some stored in NFD form); phase-1 entries,
    done and reported alike by every unit, have none."""
    if plan.phase == 1:
        return None
    rng = seeded_rng(seed, "note", plan.task_code, period)
    if rng.random() >= 0.3:
        return None
    text = rng.choice(TASK_NOTES[status])
    return unicodedata.normalize("NFD", text) if rng.random() < 0.3 else text


def _special_notes(seed: int, plans: list[TaskPlan]) -> dict[tuple[str, date], str]:
    """Notes that must survive verbatim: markup, SQL, NFD with a line break."""
    central = [p for p in plans if p.source == "central"]
    chosen = seeded_rng(seed, "special-notes").sample(central, 3)
    return {
        (chosen[0].task_code, LAST_TASK_REPORT): SCRIPT_NOTE,
        (chosen[1].task_code, TASK_REPORT_PERIODS[1]): SQL_NOTE,
        (chosen[2].task_code, LAST_TASK_REPORT): NFD_NOTE,
    }


def _task_entry(plan: TaskPlan, period: date, note: str | None, explicit_nulls: bool) -> dict[str, Any]:
    """One ``tasks`` item of a task report."""
    status, pct, completed_on = plan.progress_at(period)
    entry: dict[str, Any] = {"task_code": plan.task_code, "status": status, "progress_pct": pct}
    if completed_on is not None:
        entry["completed_on"] = completed_on.isoformat()
    elif explicit_nulls:
        entry["completed_on"] = None
    if note is not None:
        entry["note"] = note
    elif explicit_nulls:
        entry["note"] = None
    return entry


def _plans_by_unit(plans: list[TaskPlan]) -> dict[str, list[TaskPlan]]:
    by_unit: dict[str, list[TaskPlan]] = {}
    for plan in plans:
        by_unit.setdefault(plan.unit_code, []).append(plan)
    return by_unit


@cache
def _writes_explicit_nulls(seed: int, unit_code: str) -> bool:
    """Whether the unit's software writes ``null`` for empty fields (once per unit, not per report)."""
    return seeded_rng(seed, "style", unit_code).random() < 0.5


def task_report_payload(
    seed: int, unit_plans: list[TaskPlan], period: date, special: dict[tuple[str, date], str]
) -> Payload:
    """The clean task report of one unit as of ``period``: every task assigned by then."""
    explicit_nulls = _writes_explicit_nulls(seed, unit_plans[0].unit_code)
    entries = []
    for plan in sorted(unit_plans, key=lambda p: p.task_code):
        if plan.assigned_on > period:
            continue
        status = plan.progress_at(period)[0]
        note = special.get((plan.task_code, period)) or _note(seed, plan, period, status)
        entries.append(_task_entry(plan, period, note, explicit_nulls))
    return {"tasks": entries}


def file_task_reports(log: SubmissionLog, seed: int, plans: list[TaskPlan]) -> None:
    """Every unit with tasks reports on each task-report period."""
    special = _special_notes(seed, plans)
    for unit_code, unit_plans in sorted(_plans_by_unit(plans).items()):
        for period in TASK_REPORT_PERIODS:
            if all(p.assigned_on > period for p in unit_plans):
                continue
            rng = seeded_rng(seed, "task-report-time", unit_code, period)
            payload = task_report_payload(seed, unit_plans, period, special)
            log.file(unit_code, "task_report", period.isoformat(), _task_report_time(rng, period), payload)


def _is_central(entry: dict[str, Any]) -> bool:
    return str(entry["task_code"]).startswith(f"{CENTRAL_PREFIX}-")


def _open_entries(payload: Payload) -> list[dict[str, Any]]:
    """The entries of tasks not completed, central tasks first (the mess aims at those)."""
    entries = [e for e in payload["tasks"] if e["status"] != "completed"]
    return sorted(entries, key=lambda e: not _is_central(e))


def _complete(entry: dict[str, Any], completed_on: str | None) -> None:
    """Mark a task entry completed (``completed_on`` None leaves the date out: invalid)."""
    entry.update(status="completed", progress_pct=100)
    entry.pop("completed_on", None)
    if completed_on is not None:
        entry["completed_on"] = completed_on


def add_task_report_mess(log: SubmissionLog, seed: int, plans: list[TaskPlan], holders: list[str]) -> None:
    """Corrections, withdrawals and invalid versions on task reports.

    None of them changes which entry counts for a task as of FIGURES_AS_OF when MARTS.md's
    rules are applied; most would change it if a rule were skipped.
    """
    rng = seeded_rng(seed, "task-mess")
    last = LAST_TASK_REPORT.isoformat()
    middle = TASK_REPORT_PERIODS[1].isoformat()
    first = TASK_REPORT_PERIODS[0].isoformat()

    def last_report(code: str) -> Payload:
        return log.latest(log.regular(code, "task_report", last))["payload"]

    def open_tasks(count: int) -> Callable[[str], bool]:
        """Whether a unit's last report has ``count`` open central tasks."""
        return lambda code: sum(map(_is_central, _open_entries(last_report(code)))) >= count

    agencies = RolePicker(rng, holders)
    task_communes = sorted({p.unit_code for p in plans} - set(holders))
    communes = RolePicker(rng, task_communes)

    def has_completed(code: str) -> bool:
        return any(e["status"] == "completed" and _is_central(e) for e in last_report(code)["tasks"])

    _correction_completes_a_task(log, rng, agencies.pick(has_completed), last)
    _invalid_newer_claims_completions(log, agencies.pick(open_tasks(2)), last)
    _withdrawn_duplicate_claims_completions(log, rng, agencies.pick(open_tasks(2)), last)
    _invalid_duplicate_lists_foreign_task(log, rng, agencies.pick(open_tasks(1)), last, plans)
    _invalid_newer_completed_after_period(log, rng, agencies.pick(open_tasks(1)), last)
    _invalid_first_lists_unknown_task(log, rng, agencies.pick(), middle)
    _invalid_newer_lists_task_twice(log, rng, agencies.pick(), middle)
    _invalid_future_period(log, rng, agencies.pick(), last)
    _submitted_just_after_midnight(log, agencies.pick(), middle)
    try:
        open_commune = communes.pick(lambda code: bool(_open_entries(last_report(code))))
    except ValueError:  # every commune task done: an agency plays the part
        open_commune = agencies.pick(open_tasks(1))
    _invalid_first_completed_on_while_open(log, rng, open_commune, last)
    _invalid_first_progress_out_of_range(log, rng, communes.pick(), first)
    _withdraw_entirely(log, rng, communes.pick(), middle)


def _correction_completes_a_task(log: SubmissionLog, rng: random.Random, unit: str, period: str) -> None:
    """v1 forgot to mark a finished task completed; the valid v2 fixes it (v2 counts)."""
    submission_id = log.regular(unit, "task_report", period)
    first = log.first(submission_id)
    corrected = copy.deepcopy(first["payload"])
    done = [e for e in first["payload"]["tasks"] if e["status"] == "completed" and _is_central(e)]
    target = max(done, key=lambda e: (e["completed_on"], e["task_code"]))
    target.update(status="in_progress", progress_pct=90)
    target.pop("completed_on")
    log.republish(submission_id, later(first["updated_at"], rng, 20, 48), corrected)


def _invalid_newer_claims_completions(log: SubmissionLog, unit: str, period: str) -> None:
    """A v2 claiming two more completions without ``completed_on``: invalid, v1 still counts."""
    submission_id = log.regular(unit, "task_report", period)
    payload = copy.deepcopy(log.latest(submission_id)["payload"])
    for entry in _open_entries(payload)[:2]:
        _complete(entry, None)
    log.republish(submission_id, DATA_END, payload)


def _withdrawn_duplicate_claims_completions(
    log: SubmissionLog, rng: random.Random, unit: str, period: str
) -> None:
    """A valid second report with two extra completions, later withdrawn: it counts nowhere."""
    regular = log.latest(log.regular(unit, "task_report", period))
    payload = copy.deepcopy(regular["payload"])
    for entry in _open_entries(payload)[:2]:
        _complete(entry, period)
    # Still within the three days after the period that units take to report.
    deadline = local_time(date.fromisoformat(period) + timedelta(days=3), 23 * 3600)
    filed_at = min(later(regular["updated_at"], rng, 1, 3), deadline)
    duplicate = log.file(unit, "task_report", period, filed_at, payload, suffix="-2")
    log.republish(duplicate, later(filed_at, rng, 20, 30), status="withdrawn")


def _invalid_duplicate_lists_foreign_task(
    log: SubmissionLog, rng: random.Random, unit: str, period: str, plans: list[TaskPlan]
) -> None:
    """A later second report that also lists another unit's task (and one more completion)."""
    regular = log.latest(log.regular(unit, "task_report", period))
    payload = copy.deepcopy(regular["payload"])
    _complete(_open_entries(payload)[0], period)
    foreign = next(p for p in plans if p.unit_code != unit and p.source == "central")
    status, pct, completed_on = foreign.progress_at(date.fromisoformat(period))
    entry: dict[str, Any] = {"task_code": foreign.task_code, "status": status, "progress_pct": pct}
    if completed_on is not None:
        entry["completed_on"] = completed_on.isoformat()
    payload["tasks"].append(entry)
    filed_at = later(regular["updated_at"], rng, 2, 20)
    log.file(unit, "task_report", period, filed_at, payload, suffix="-2")


def _invalid_newer_completed_after_period(
    log: SubmissionLog, rng: random.Random, unit: str, period: str
) -> None:
    """A v2 completing a task on a day after the report's period: invalid, v1 still counts."""
    submission_id = log.regular(unit, "task_report", period)
    latest = log.latest(submission_id)
    payload = copy.deepcopy(latest["payload"])
    after = (date.fromisoformat(period) + timedelta(days=3)).isoformat()
    _complete(_open_entries(payload)[0], after)
    log.republish(submission_id, later(latest["updated_at"], rng, 24, 48), payload)


def _invalid_first_lists_unknown_task(log: SubmissionLog, rng: random.Random, unit: str, period: str) -> None:
    """v1 lists a task code that is in no catalogue; v2 drops it (v2 counts)."""
    submission_id = log.regular(unit, "task_report", period)
    first = log.first(submission_id)
    clean = copy.deepcopy(first["payload"])
    first["payload"]["tasks"].append(
        {"task_code": f"{CENTRAL_PREFIX}-999", "status": "in_progress", "progress_pct": 50}
    )
    log.republish(submission_id, later(first["updated_at"], rng, 3, 30), clean)


def _invalid_newer_lists_task_twice(log: SubmissionLog, rng: random.Random, unit: str, period: str) -> None:
    """A v2 that lists one task twice: invalid, v1 still counts."""
    submission_id = log.regular(unit, "task_report", period)
    latest = log.latest(submission_id)
    payload = copy.deepcopy(latest["payload"])
    payload["tasks"].append(copy.deepcopy(payload["tasks"][0]))
    log.republish(submission_id, later(latest["updated_at"], rng, 24, 72), payload)


def _invalid_future_period(log: SubmissionLog, rng: random.Random, unit: str, period: str) -> None:
    """A report "as of" the end of September, filed on 19 September: period in the future."""
    payload = copy.deepcopy(log.latest(log.regular(unit, "task_report", period))["payload"])
    filed_at = local_time(date(2025, 9, 19), rng.randint(8 * 3600, 17 * 3600))
    log.file(unit, "task_report", "2025-09-30", filed_at, payload)


def _submitted_just_after_midnight(log: SubmissionLog, unit: str, period: str) -> None:
    """Filed at 00:40 local on the period date (still the previous day in UTC): valid."""
    first = log.first(log.regular(unit, "task_report", period))
    filed = stamp(local_time(date.fromisoformat(period), 40 * 60))
    first.update(submitted_at=filed, updated_at=filed)


def _invalid_first_completed_on_while_open(
    log: SubmissionLog, rng: random.Random, unit: str, period: str
) -> None:
    """v1 sets ``completed_on`` on a task that is not completed; v2 clears it (v2 counts)."""
    submission_id = log.regular(unit, "task_report", period)
    first = log.first(submission_id)
    clean = copy.deepcopy(first["payload"])
    _open_entries(first["payload"])[0]["completed_on"] = period
    log.republish(submission_id, later(first["updated_at"], rng, 2, 20), clean)


def _invalid_first_progress_out_of_range(
    log: SubmissionLog, rng: random.Random, unit: str, period: str
) -> None:
    """v1 reports 120 % progress (breaks the schema's maximum); v2 fixes it (v2 counts)."""
    submission_id = log.regular(unit, "task_report", period)
    first = log.first(submission_id)
    clean = copy.deepcopy(first["payload"])
    first["payload"]["tasks"][0]["progress_pct"] = 120
    log.republish(submission_id, later(first["updated_at"], rng, 2, 20), clean)


def _withdraw_entirely(log: SubmissionLog, rng: random.Random, unit: str, period: str) -> None:
    """A commune withdraws its task report and files none again: a missing report."""
    submission_id = log.regular(unit, "task_report", period)
    log.republish(
        submission_id, later(log.latest(submission_id)["updated_at"], rng, 24, 96), status="withdrawn"
    )
