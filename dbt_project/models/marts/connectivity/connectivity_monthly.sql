-- One row per (period, unit_code) with a counting connectivity_report: the report's fields,
-- dead-zone villages (trắng sóng, no signal + lõm sóng, weak signal) and two rates.
-- Incremental by period: a night deletes the periods it touched (pre-hook; see
-- macros/incremental_helpers.sql), whatever their age, and appends them recomputed; the
-- others are kept as built.

{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_touched_report_periods('connectivity_report', ['unit_name', 'unit_type', 'province_code']) }}",
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_submissions_counted') }}
{% if is_incremental() %}
    {% set touched_periods = touched_report_periods('connectivity_report', ['unit_name', 'unit_type', 'province_code']) %}
{% endif %}

with

reports as (

    select * from {{ ref('int_connectivity_reports_flattened') }}
    {% if is_incremental() %}
    where period in {{ sql_text_list(touched_periods) }}
    {% endif %}

),

units as (

    select * from {{ ref('int_units_enriched') }}

),

final as (

    select
        reports.period,
        reports.unit_code,
        units.unit_name,
        units.unit_type,
        units.province_code,
        reports.villages_total,
        reports.villages_no_signal,
        reports.villages_weak_signal,
        reports.households_total,
        reports.households_fiber,
        reports.office_computers_total,
        reports.office_computers_outdated,
        reports.office_bandwidth_mbps,
        reports.internet_outage_hours,
        reports.villages_no_signal + reports.villages_weak_signal as dead_zone_villages,
        {{ safe_rate('reports.households_fiber', 'reports.households_total') }}
            as fiber_household_rate,
        {{ safe_rate('reports.office_computers_outdated', 'reports.office_computers_total') }}
            as outdated_computer_rate,
        reports.submission_id,
        reports.counted_version as version,
        reports.submitted_at,
        reports.updated_at,
        reports.loaded_at

    from reports
    left join units
        on reports.unit_code = units.unit_code

)

select * from final
