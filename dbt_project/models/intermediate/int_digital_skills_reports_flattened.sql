-- The counting digital_skills_report ("Bình dân học vụ số", digital literacy for all) of each
-- (period, unit), its payload as typed columns.

with

reports as (

    select * from {{ ref('int_reports_deduplicated') }}
    where form = 'digital_skills_report'

),

flattened as (

    select
        period,
        unit_code,
        submission_id,
        counted_version,
        submitted_at,
        updated_at,
        loaded_at,
        cast(json_extract(payload, '$.sessions_held') as bigint) as sessions_held,
        cast(json_extract(payload, '$.participants_officials') as bigint) as participants_officials,
        cast(json_extract(payload, '$.participants_citizens') as bigint) as participants_citizens,
        cast(json_extract(payload, '$.participants_students') as bigint) as participants_students,
        cast(json_extract(payload, '$.people_completed_basic') as bigint) as people_completed_basic,
        cast(json_extract(payload, '$.vneid_activations') as bigint) as vneid_activations

    from reports

)

select * from flattened
