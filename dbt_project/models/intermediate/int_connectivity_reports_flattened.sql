-- The counting connectivity_report of each (period, unit), its payload as typed columns.

with

reports as (

    select * from {{ ref('int_reports_deduplicated') }}
    where form = 'connectivity_report'

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
        cast(json_extract(payload, '$.villages_total') as bigint) as villages_total,
        cast(json_extract(payload, '$.villages_no_signal') as bigint) as villages_no_signal,
        cast(json_extract(payload, '$.villages_weak_signal') as bigint) as villages_weak_signal,
        cast(json_extract(payload, '$.households_total') as bigint) as households_total,
        cast(json_extract(payload, '$.households_fiber') as bigint) as households_fiber,
        cast(json_extract(payload, '$.office_computers_total') as bigint) as office_computers_total,
        cast(json_extract(payload, '$.office_computers_outdated') as bigint) as office_computers_outdated,
        cast(json_extract(payload, '$.office_bandwidth_mbps') as double) as office_bandwidth_mbps,
        cast(json_extract(payload, '$.internet_outage_hours') as double) as internet_outage_hours

    from reports

)

select * from flattened
