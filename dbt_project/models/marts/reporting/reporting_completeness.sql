-- One row per expected report (period, form, unit_code) of the reporting calendar, with
-- whether it was received and whether on time (DHIS2 completeness / timeliness).
-- Received: at least one submission for that form and period (task_report: a period inside
-- the month) whose counted version exists and is not withdrawn, whether or not it wins rule 3.
-- On time: its earliest submitted_at is at or before the 5th of the following month,
-- 23:59:59 local (capacity_report: the 10th of the month after the quarter). A correction
-- keeps version 1's submitted_at, so it stays on time.

with

expected_reports as (

    select * from {{ ref('int_reports_expected') }}

),

counted_submissions as (

    select * from {{ ref('int_submissions_counted') }}
    where not is_withdrawn

),

units as (

    select * from {{ ref('int_units_enriched') }}

),

received_submissions as (

    select
        unit_code,
        form,
        -- task_report periods are dates: they count for the month they fall in
        case when form = 'task_report' then left(period, 7) else period end as period,
        min(submitted_at) as submitted_at,
        count(*) as submissions_received

    from counted_submissions
    group by 1, 2, 3

),

final as (

    select
        expected_reports.period,
        expected_reports.form,
        expected_reports.unit_code,
        units.unit_name,
        units.unit_type,
        received_submissions.submitted_at is not null as received,
        received_submissions.submitted_at,
        coalesce(
            {{ local_timestamp('received_submissions.submitted_at') }} <= expected_reports.due_local,
            false
        ) as received_on_time,
        coalesce(received_submissions.submissions_received, 0) as submissions_received,
        timezone('Asia/Ho_Chi_Minh', expected_reports.due_local) as due_at,
        units.province_code

    from expected_reports
    left join received_submissions
        on expected_reports.unit_code = received_submissions.unit_code
        and expected_reports.form = received_submissions.form
        and expected_reports.period = received_submissions.period
    left join units
        on expected_reports.unit_code = units.unit_code

)

select * from final
