-- What is late or at risk, and whose it is: one row per (as_of_date, task_code) for every task
-- whose status_class that night is in_progress or overdue. risk: `overdue` past the deadline;
-- else `at_risk` when never reported, or when the deadline is 30 days or less away and progress
-- is under 80%; else `on_track`. One set of rows per night (delete+insert on as_of_date).

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
        and status_class in ('in_progress', 'overdue')

),

final as (

    select
        as_of_date,
        task_code,
        task_title,
        task_group,
        source,
        phase,
        assigned_unit_code,
        province_code,
        deadline,
        cast(deadline - as_of_date as integer) as days_to_deadline,
        reported_status,
        progress_pct,
        cast(reported_period as date) as last_reported_period,
        case
            when as_of_date > deadline then 'overdue'
            when reported_status is null then 'at_risk'
            when deadline - as_of_date <= 30 and coalesce(progress_pct, 0) < 80 then 'at_risk'
            else 'on_track'
        end as risk

    from task_status

)

select * from final
