-- Green status (trạng thái Xanh) per unit and phase, night by night: one row per (as_of_date,
-- phase, unit_code) for every unit active on the as-of date and assigned at least one task of
-- the phase with assigned_on <= as_of_date. Green when every such task is completed (on time
-- or late); green_since is then the latest completed_on among them. One set of rows per night.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns'
    )
}}

with

task_status as (

    select * from {{ ref('task_status') }}
    where as_of_date = {{ as_of_date() }}
        and phase is not null

),

units as (

    select * from {{ ref('int_units_enriched') }}
    where active_from <= {{ as_of_date() }}
        and (active_to is null or active_to >= {{ as_of_date() }})

),

counted as (

    select
        task_status.as_of_date,
        task_status.phase,
        task_status.assigned_unit_code as unit_code,
        count(*) as tasks_total,
        count(*) filter (
            where task_status.status_class in ('completed_on_time', 'completed_late')
        ) as tasks_completed,
        max(task_status.completed_on) as last_completed_on

    from task_status
    group by task_status.as_of_date, task_status.phase, task_status.assigned_unit_code

),

final as (

    select
        counted.as_of_date,
        counted.phase,
        counted.unit_code,
        units.unit_name,
        units.province_code,
        units.unit_type,
        counted.tasks_total,
        counted.tasks_completed,
        counted.tasks_completed = counted.tasks_total as is_green,
        case
            when counted.tasks_completed = counted.tasks_total then counted.last_completed_on
        end as green_since

    from counted
    -- only units active on the as-of date have a status
    inner join units
        on counted.unit_code = units.unit_code

)

select * from final
