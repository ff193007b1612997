-- One row per (period, unit_code) with a counting capacity_report (period = YYYY-Qn): the
-- unit's digital-transformation staff, steering committee and information security at the end
-- of the quarter, and two rates.
-- Incremental by period: a night deletes the periods it touched (pre-hook; see
-- macros/incremental_helpers.sql), whatever their age, and appends them recomputed; the
-- others are kept as built.

{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_touched_report_periods('capacity_report', ['unit_name', 'unit_type', 'province_code']) }}",
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_submissions_counted') }}
{% if is_incremental() %}
    {% set touched_periods = touched_report_periods('capacity_report', ['unit_name', 'unit_type', 'province_code']) %}
{% endif %}

with

reports as (

    select * from {{ ref('int_capacity_reports_flattened') }}
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
        units.province_code,
        units.unit_type,
        reports.officials_total,
        reports.dx_specialists,
        reports.officials_trained_dx,
        reports.steering_committee,
        reports.information_systems,
        reports.systems_security_approved,
        reports.security_assessments,
        reports.vulnerabilities_found,
        reports.vulnerabilities_open,
        reports.devices_received,
        reports.dx_specialists >= 1 as has_dx_specialist,
        {{ safe_rate('reports.officials_trained_dx', 'reports.officials_total') }} as trained_rate,
        {{ safe_rate('reports.systems_security_approved', 'reports.information_systems') }}
            as security_approved_rate,
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
