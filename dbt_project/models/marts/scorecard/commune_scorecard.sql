-- One row per (as_of_date, unit_code) for every commune-level unit active on the as-of date:
-- the unit's latest KPIs and a green / yellow / red status from the editable thresholds of
-- seed `scorecard_thresholds`:
--   each KPI with a value is green, yellow or red against its thresholds;
--   the unit is red if any KPI is red, else yellow if any KPI is yellow or no KPI is known,
--   else green.
-- One set of rows per night (delete+insert on as_of_date).

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
    where is_commune_level
        and active_from <= {{ as_of_date() }}
        and (active_to is null or active_to >= {{ as_of_date() }})

),

thresholds as (

    select * from {{ ref('scorecard_thresholds') }}

),

reporting_completeness as (

    select * from {{ ref('reporting_completeness') }}

),

connectivity_monthly as (

    select * from {{ ref('connectivity_monthly') }}
    where period <= strftime({{ as_of_date() }}, '%Y-%m')

),

digital_skills_monthly as (

    select * from {{ ref('digital_skills_monthly') }}
    where period <= strftime({{ as_of_date() }}, '%Y-%m')

),

public_services_monthly as (

    select * from {{ ref('public_services_monthly') }}
    where period <= strftime({{ as_of_date() }}, '%Y-%m')

),

task_status as (

    select * from {{ ref('task_status') }}
    where as_of_date = {{ as_of_date() }}

),

unit_pulls as (

    select * from {{ ref('stg_portal__unit_pulls') }}
    where as_of_date = {{ as_of_date() }}

),

reporting_by_unit as (

    select
        unit_code,
        count(*) as reports_expected,
        count(*) filter (where received) as reports_received,
        count(*) filter (where received_on_time) as reports_received_on_time

    from reporting_completeness
    group by unit_code

),

latest_connectivity as (

    select * from connectivity_monthly
    qualify row_number() over (partition by unit_code order by period desc) = 1

),

latest_digital_skills as (

    select * from digital_skills_monthly
    qualify row_number() over (partition by unit_code order by period desc) = 1

),

latest_public_services as (

    select * from public_services_monthly
    qualify row_number() over (partition by unit_code order by period desc) = 1

),

tasks_by_unit as (

    select
        assigned_unit_code as unit_code,
        count(*) as tasks_total,
        count(*) filter (
            where status_class in ('completed_on_time', 'completed_late')
        ) as tasks_completed,
        count(*) filter (where status_class = 'overdue') as tasks_overdue

    from task_status
    group by assigned_unit_code

),

latest_pulls as (

    select * from unit_pulls
    qualify row_number() over (partition by unit_code order by finished_at desc) = 1

),

unit_kpis as (

    select
        {{ as_of_date() }} as as_of_date,
        units.unit_code,
        units.unit_name,
        units.unit_type,
        units.population,

        coalesce(reporting_by_unit.reports_expected, 0) as reports_expected,
        coalesce(reporting_by_unit.reports_received, 0) as reports_received,
        coalesce(reporting_by_unit.reports_received_on_time, 0) as reports_received_on_time,
        {{ safe_rate('reporting_by_unit.reports_received', 'reporting_by_unit.reports_expected') }}
            as reporting_rate,
        {{ safe_rate('reporting_by_unit.reports_received_on_time',
                     'reporting_by_unit.reports_expected') }} as reporting_rate_on_time,

        latest_connectivity.period as connectivity_period,
        latest_connectivity.villages_total,
        latest_connectivity.dead_zone_villages,
        {{ safe_rate('latest_connectivity.dead_zone_villages', 'latest_connectivity.villages_total') }}
            as dead_zone_village_rate,
        latest_connectivity.fiber_household_rate,

        latest_digital_skills.period as digital_skills_period,
        latest_digital_skills.cumulative_completed_basic,
        latest_digital_skills.coverage_rate,

        latest_public_services.period as public_services_period,
        latest_public_services.online_rate,
        latest_public_services.full_online_rate,
        latest_public_services.on_time_rate as dossiers_on_time_rate,

        coalesce(tasks_by_unit.tasks_total, 0) as tasks_total,
        coalesce(tasks_by_unit.tasks_completed, 0) as tasks_completed,
        coalesce(tasks_by_unit.tasks_overdue, 0) as tasks_overdue,

        latest_pulls.pull_outcome as last_pull_outcome,
        units.province_code

    from units
    left join reporting_by_unit on units.unit_code = reporting_by_unit.unit_code
    left join latest_connectivity on units.unit_code = latest_connectivity.unit_code
    left join latest_digital_skills on units.unit_code = latest_digital_skills.unit_code
    left join latest_public_services on units.unit_code = latest_public_services.unit_code
    left join tasks_by_unit on units.unit_code = tasks_by_unit.unit_code
    left join latest_pulls on units.unit_code = latest_pulls.unit_code

),

kpi_values as (

    select unit_code, 'reporting_rate' as kpi, reporting_rate as kpi_value
    from unit_kpis
    union all
    select unit_code, 'dead_zone_village_rate', dead_zone_village_rate
    from unit_kpis
    union all
    select unit_code, 'coverage_rate', coverage_rate
    from unit_kpis
    union all
    select unit_code, 'full_online_rate', full_online_rate
    from unit_kpis
    union all
    select unit_code, 'tasks_overdue', cast(tasks_overdue as double)
    from unit_kpis

),

kpi_statuses as (

    select
        kpi_values.unit_code,
        kpi_values.kpi,
        case
            when thresholds.direction = 'higher_is_better' then
                case
                    when kpi_values.kpi_value >= thresholds.green_threshold then 'green'
                    when kpi_values.kpi_value < thresholds.red_threshold then 'red'
                    else 'yellow'
                end
            else
                case
                    when kpi_values.kpi_value <= thresholds.green_threshold then 'green'
                    when kpi_values.kpi_value > thresholds.red_threshold then 'red'
                    else 'yellow'
                end
        end as kpi_status

    from kpi_values
    inner join thresholds
        on kpi_values.kpi = thresholds.kpi
    where kpi_values.kpi_value is not null

),

unit_statuses as (

    select
        unit_code,
        count(*) filter (where kpi_status = 'red') as kpis_red,
        count(*) filter (where kpi_status = 'yellow') as kpis_yellow,
        count(*) as kpis_known,
        string_agg(kpi || ': ' || kpi_status, '; ' order by kpi)
            filter (where kpi_status <> 'green') as status_reasons

    from kpi_statuses
    group by unit_code

),

final as (

    select
        unit_kpis.*,
        case
            when unit_statuses.kpis_red > 0 then 'red'
            when unit_statuses.kpis_yellow > 0 then 'yellow'
            when coalesce(unit_statuses.kpis_known, 0) = 0 then 'yellow'
            else 'green'
        end as status,
        case
            when coalesce(unit_statuses.kpis_known, 0) = 0 then 'no KPI known'
            else unit_statuses.status_reasons
        end as status_reasons

    from unit_kpis
    left join unit_statuses
        on unit_kpis.unit_code = unit_statuses.unit_code

)

select * from final
