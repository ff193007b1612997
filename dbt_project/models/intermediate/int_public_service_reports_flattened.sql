-- The counting public_service_report of each (period, unit), its payload as typed columns.

with

reports as (

    select * from {{ ref('int_reports_deduplicated') }}
    where form = 'public_service_report'

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
        cast(json_extract(payload, '$.dossiers_received') as bigint) as dossiers_received,
        cast(json_extract(payload, '$.dossiers_online') as bigint) as dossiers_online,
        cast(json_extract(payload, '$.dossiers_full_online') as bigint) as dossiers_full_online,
        cast(json_extract(payload, '$.dossiers_processed') as bigint) as dossiers_processed,
        cast(json_extract(payload, '$.dossiers_processed_on_time') as bigint) as dossiers_processed_on_time

    from reports

)

select * from flattened
