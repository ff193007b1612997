-- One row per (as_of_date, task_code): every task assigned on or before the as-of date, its
-- reported entry as of that date and its status class. One set of rows per night: a rerun of
-- a night replaces that night's rows (delete+insert on as_of_date), older nights are kept.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns'
    )
}}

with

tasks_resolved as (

    select * from {{ ref('int_task_entries_resolved') }}

),

units as (

    select * from {{ ref('int_units_enriched') }}

),

classified as (

    select
        tasks_resolved.as_of_date,
        tasks_resolved.task_code,
        tasks_resolved.task_title,
        tasks_resolved.task_group,
        tasks_resolved.source,
        tasks_resolved.assigned_unit_code,
        tasks_resolved.assigned_on,
        tasks_resolved.deadline,
        tasks_resolved.reported_status,
        tasks_resolved.progress_pct,
        tasks_resolved.completed_on,
        case
            when tasks_resolved.reported_status = 'completed'
                and tasks_resolved.completed_on <= tasks_resolved.deadline
                then 'completed_on_time'
            when tasks_resolved.reported_status = 'completed'
                then 'completed_late'
            -- not completed, or never reported
            when tasks_resolved.as_of_date <= tasks_resolved.deadline
                then 'in_progress'
            else 'overdue'
        end as status_class,
        tasks_resolved.reported_period,
        tasks_resolved.note,
        units.province_code,
        tasks_resolved.phase

    from tasks_resolved
    left join units
        on tasks_resolved.assigned_unit_code = units.unit_code

)

select * from classified
