-- One row per (period, form) of the reporting calendar: expected, actual and on-time reports
-- and the reporting rates (NULL when nothing was expected).

with

months as (

    select * from {{ ref('int_reporting_months') }}

),

reporting_completeness as (

    select * from {{ ref('reporting_completeness') }}

),

forms as (

    select form
    from (
        values
            ('task_report'),
            ('connectivity_report'),
            ('digital_skills_report'),
            ('public_service_report')
    ) as forms (form)

),

counted as (

    select
        period,
        form,
        count(*) as expected_reports,
        count(*) filter (where received) as actual_reports,
        count(*) filter (where received_on_time) as actual_reports_on_time

    from reporting_completeness
    group by period, form

),

final as (

    select
        months.period,
        forms.form,
        coalesce(counted.expected_reports, 0) as expected_reports,
        coalesce(counted.actual_reports, 0) as actual_reports,
        coalesce(counted.actual_reports_on_time, 0) as actual_reports_on_time,
        {{ safe_rate('counted.actual_reports', 'counted.expected_reports') }} as reporting_rate,
        {{ safe_rate('counted.actual_reports_on_time', 'counted.expected_reports') }}
            as reporting_rate_on_time

    from months
    cross join forms
    left join counted
        on months.period = counted.period
        and forms.form = counted.form

)

select * from final
