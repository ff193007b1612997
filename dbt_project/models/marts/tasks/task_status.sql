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

classified as (

    select
        as_of_date,
        task_code,
        task_title,
        task_group,
        source,
        assigned_unit_code,
        assigned_on,
        deadline,
        reported_status,
        progress_pct,
        completed_on,
        case
            when reported_status = 'completed' and completed_on <= deadline
                then 'completed_on_time'
            when reported_status = 'completed'
                then 'completed_late'
            -- not completed, or never reported
            when as_of_date <= deadline
                then 'in_progress'
            else 'overdue'
        end as status_class,
        reported_period,
        note

    from tasks_resolved

)

select * from classified
