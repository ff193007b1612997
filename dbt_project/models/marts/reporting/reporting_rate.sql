-- One row per (period, form, province_code) of the reporting calendar (months for the monthly
-- forms and task_report, quarters for capacity_report) and every province with units:
-- expected, actual and on-time reports and the reporting rates (NULL when nothing was expected).

with

months as (

    select * from {{ ref('int_reporting_months') }}

),

quarters as (

    select * from {{ ref('int_reporting_quarters') }}

),

units as (

    select * from {{ ref('int_units_enriched') }}

),

reporting_completeness as (

    select * from {{ ref('reporting_completeness') }}

),

monthly_forms as (

    select form
    from (
        values
            ('task_report'),
            ('connectivity_report'),
            ('digital_skills_report'),
            ('public_service_report')
    ) as forms (form)

),

calendar as (

    select months.period, monthly_forms.form
    from months
    cross join monthly_forms

    union all

    select period, 'capacity_report' as form
    from quarters

),

provinces as (

    select distinct province_code
    from units
    where province_code is not null

),

counted as (

    select
        period,
        form,
        province_code,
        count(*) as expected_reports,
        count(*) filter (where received) as actual_reports,
        count(*) filter (where received_on_time) as actual_reports_on_time

    from reporting_completeness
    group by period, form, province_code

),

final as (

    select
        calendar.period,
        calendar.form,
        provinces.province_code,
        coalesce(counted.expected_reports, 0) as expected_reports,
        coalesce(counted.actual_reports, 0) as actual_reports,
        coalesce(counted.actual_reports_on_time, 0) as actual_reports_on_time,
        {{ safe_rate('counted.actual_reports', 'counted.expected_reports') }} as reporting_rate,
        {{ safe_rate('counted.actual_reports_on_time', 'counted.expected_reports') }}
            as reporting_rate_on_time

    from calendar
    cross join provinces
    left join counted
        on calendar.period = counted.period
        and calendar.form = counted.form
        and provinces.province_code = counted.province_code

)

select * from final
