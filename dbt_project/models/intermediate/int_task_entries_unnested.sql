-- One row per task entry of each counting task_report: the payload's `tasks` array unnested,
-- typed. `note` is free text: carried verbatim, never interpreted.

with

task_reports as (

    select * from {{ ref('int_reports_deduplicated') }}
    where form = 'task_report'

),

unnested as (

    select
        task_reports.submission_id,
        task_reports.counted_version,
        task_reports.unit_code,
        task_reports.period,
        try_cast(task_reports.period as date) as report_date,
        task_reports.submitted_at,
        task_reports.updated_at,
        cast(entries.key as integer) as entry_index,
        entries.value ->> 'task_code' as task_code,
        entries.value ->> 'status' as reported_status,
        cast(json_extract(entries.value, '$.progress_pct') as double) as progress_pct,
        cast(entries.value ->> 'completed_on' as date) as completed_on,
        entries.value ->> 'note' as note

    from task_reports,
        json_each(task_reports.payload, '$.tasks') as entries

)

select * from unnested
