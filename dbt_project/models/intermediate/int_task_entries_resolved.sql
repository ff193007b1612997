-- Every task assigned on or before the as-of date D, with its entry as of D: the entry in the
-- counting task_report of its assigned unit with period <= D and the greatest
-- (period, updated_at) among those that list the task (ties: greatest submission_id).
-- Tasks never reported keep NULL entry columns.

with

tasks as (

    select * from {{ ref('stg_portal__tasks') }}
    where assigned_on <= {{ as_of_date() }}

),

task_entries as (

    select * from {{ ref('int_task_entries_unnested') }}
    where report_date <= {{ as_of_date() }}

),

entries_ranked as (

    select
        task_entries.*,
        row_number() over (
            partition by task_entries.unit_code, task_entries.task_code
            order by
                task_entries.report_date desc,
                task_entries.updated_at desc,
                task_entries.submission_id desc,
                task_entries.entry_index
        ) as entry_rank

    from task_entries

),

latest_entries as (

    select * from entries_ranked
    where entry_rank = 1

),

resolved as (

    select
        {{ as_of_date() }} as as_of_date,
        tasks.task_code,
        tasks.task_title,
        tasks.task_group,
        tasks.source,
        tasks.assigned_unit_code,
        tasks.assigned_on,
        tasks.deadline,
        tasks.phase,
        latest_entries.reported_status,
        latest_entries.progress_pct,
        latest_entries.completed_on,
        latest_entries.note,
        latest_entries.period as reported_period,
        latest_entries.submission_id as reported_submission_id

    from tasks
    left join latest_entries
        on tasks.task_code = latest_entries.task_code
        and tasks.assigned_unit_code = latest_entries.unit_code

)

select * from resolved
