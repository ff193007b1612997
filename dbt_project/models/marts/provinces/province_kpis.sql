-- Each province's headline for a night: one row per (as_of_date, province_code) for every
-- province with at least one unit active on the as-of date. Active units, the central tasks of
-- that night's task_status assigned to the province's units, and for kpi_period (the month
-- before the as-of date's month) the province marts' KPIs and the reporting rate over the three
-- monthly forms together (NULL where the province has no row). One set of rows per night.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns'
    )
}}

with

units as (

    select * from {{ ref('int_units_enriched') }}
    where active_from <= {{ as_of_date() }}
        and (active_to is null or active_to >= {{ as_of_date() }})
        and province_code is not null

),

reference_provinces as (

    select
        province_code,
        nfc_normalize(min(province_name)) as province_name

    from {{ ref('stg_portal__reference_communes') }}
    group by province_code

),

task_status as (

    select * from {{ ref('task_status') }}
    where as_of_date = {{ as_of_date() }}
        and source = 'central'

),

connectivity as (

    select * from {{ ref('connectivity_province_monthly') }}

),

digital_skills as (

    select * from {{ ref('digital_skills_province_monthly') }}

),

public_services as (

    select * from {{ ref('public_services_province_monthly') }}

),

reporting_rate as (

    select * from {{ ref('reporting_rate') }}
    where form in ('connectivity_report', 'digital_skills_report', 'public_service_report')

),

provinces as (

    select
        {{ as_of_date() }} as as_of_date,
        province_code,
        strftime({{ as_of_date() }} - interval 1 month, '%Y-%m') as kpi_period,
        count(*) filter (where is_commune_level) as communes_active,
        count(*) filter (where not is_commune_level) as agencies_active

    from units
    group by province_code

),

central_tasks as (

    select
        province_code,
        count(*) as tasks_central_total,
        count(*) filter (where status_class in ('completed_on_time', 'completed_late'))
            as tasks_central_completed,
        count(*) filter (where status_class in ('in_progress', 'overdue'))
            as tasks_central_not_completed

    from task_status
    group by province_code

),

reporting as (

    select
        period,
        province_code,
        {{ safe_rate('sum(actual_reports)', 'sum(expected_reports)') }} as reporting_rate,
        {{ safe_rate('sum(actual_reports_on_time)', 'sum(expected_reports)') }}
            as reporting_rate_on_time

    from reporting_rate
    group by period, province_code

),

final as (

    select
        provinces.as_of_date,
        provinces.province_code,
        reference_provinces.province_name,
        provinces.communes_active,
        provinces.agencies_active,
        coalesce(central_tasks.tasks_central_total, 0) as tasks_central_total,
        coalesce(central_tasks.tasks_central_completed, 0) as tasks_central_completed,
        coalesce(central_tasks.tasks_central_not_completed, 0) as tasks_central_not_completed,
        provinces.kpi_period,
        connectivity.dead_zone_villages,
        connectivity.fiber_household_rate,
        connectivity.outdated_computer_rate,
        digital_skills.coverage_rate as skills_coverage_rate,
        public_services.full_online_rate,
        public_services.on_time_rate,
        reporting.reporting_rate,
        reporting.reporting_rate_on_time

    from provinces
    left join reference_provinces
        on provinces.province_code = reference_provinces.province_code
    left join central_tasks
        on provinces.province_code = central_tasks.province_code
    left join connectivity
        on provinces.province_code = connectivity.province_code
        and provinces.kpi_period = connectivity.period
    left join digital_skills
        on provinces.province_code = digital_skills.province_code
        and provinces.kpi_period = digital_skills.period
    left join public_services
        on provinces.province_code = public_services.province_code
        and provinces.kpi_period = public_services.period
    left join reporting
        on provinces.province_code = reporting.province_code
        and provinces.kpi_period = reporting.period

)

select * from final
