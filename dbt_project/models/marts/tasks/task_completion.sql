-- One row per (as_of_date, scope, scope_code): task counts by status class and the completion
-- and on-time rates, for the province (central / provincial / all; always present), each unit
-- with tasks and each task group. One set of rows per night (delete+insert on as_of_date).

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

),

units as (

    select unit_code, province_code from {{ ref('int_units_enriched') }}

),

province_scopes as (

    select
        {{ as_of_date() }} as as_of_date,
        'province' as scope,
        scope_code

    from (values ('central'), ('provincial'), ('all')) as scopes (scope_code)

),

tasks_by_scope as (

    select as_of_date, 'province' as scope, source as scope_code, status_class
    from task_status

    union all

    select as_of_date, 'province' as scope, 'all' as scope_code, status_class
    from task_status

    union all

    select as_of_date, 'unit' as scope, assigned_unit_code as scope_code, status_class
    from task_status

    union all

    select as_of_date, 'task_group' as scope, task_group as scope_code, status_class
    from task_status

),

scope_keys as (

    select * from province_scopes

    union

    select distinct as_of_date, scope, scope_code
    from tasks_by_scope
    where scope <> 'province'

),

counted as (

    select
        scope_keys.as_of_date,
        scope_keys.scope,
        scope_keys.scope_code,
        count(tasks_by_scope.status_class) as tasks_total,
        count(*) filter (where tasks_by_scope.status_class = 'completed_on_time')
            as completed_on_time,
        count(*) filter (where tasks_by_scope.status_class = 'completed_late')
            as completed_late,
        count(*) filter (
            where tasks_by_scope.status_class in ('completed_on_time', 'completed_late')
        ) as completed,
        count(*) filter (where tasks_by_scope.status_class = 'in_progress') as in_progress,
        count(*) filter (where tasks_by_scope.status_class = 'overdue') as overdue

    from scope_keys
    left join tasks_by_scope
        on scope_keys.as_of_date = tasks_by_scope.as_of_date
        and scope_keys.scope = tasks_by_scope.scope
        and scope_keys.scope_code = tasks_by_scope.scope_code
    group by scope_keys.as_of_date, scope_keys.scope, scope_keys.scope_code

),

final as (

    select
        as_of_date,
        scope,
        scope_code,
        tasks_total,
        completed_on_time,
        completed_late,
        completed,
        in_progress,
        overdue,
        {{ safe_rate('completed', 'tasks_total') }} as completion_rate,
        {{ safe_rate('completed_on_time', 'completed') }} as on_time_rate,
        in_progress + overdue as not_completed,
        -- the assigned unit's province, on `unit` rows only
        province_code

    from counted
    left join units
        on counted.scope = 'unit'
        and counted.scope_code = units.unit_code

)

select * from final
