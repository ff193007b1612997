-- The counting capacity_report of each (quarter, unit), its payload as typed columns.

with

reports as (

    select * from {{ ref('int_reports_deduplicated') }}
    where form = 'capacity_report'

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
        cast(json_extract(payload, '$.officials_total') as bigint) as officials_total,
        cast(json_extract(payload, '$.dx_specialists') as bigint) as dx_specialists,
        cast(json_extract(payload, '$.officials_trained_dx') as bigint) as officials_trained_dx,
        cast(json_extract_string(payload, '$.steering_committee') as boolean) as steering_committee,
        cast(json_extract(payload, '$.information_systems') as bigint) as information_systems,
        cast(json_extract(payload, '$.systems_security_approved') as bigint) as systems_security_approved,
        cast(json_extract(payload, '$.security_assessments') as bigint) as security_assessments,
        cast(json_extract(payload, '$.vulnerabilities_found') as bigint) as vulnerabilities_found,
        cast(json_extract(payload, '$.vulnerabilities_open') as bigint) as vulnerabilities_open,
        cast(json_extract(payload, '$.devices_received') as bigint) as devices_received

    from reports

)

select * from flattened
