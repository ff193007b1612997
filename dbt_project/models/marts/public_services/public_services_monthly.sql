-- One row per (period, unit_code) with a counting public_service_report: the dossiers of the
-- unit's one-stop centre and the online, full-online (toàn trình) and on-time rates.
-- Incremental by period: a night deletes the periods it touched (pre-hook; see
-- macros/incremental_helpers.sql), whatever their age, and appends them recomputed; the
-- others are kept as built.

{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_touched_report_periods('public_service_report', ['unit_name', 'unit_type', 'province_code']) }}",
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_submissions_counted') }}
{% if is_incremental() %}
    {% set touched_periods = touched_report_periods('public_service_report', ['unit_name', 'unit_type', 'province_code']) %}
{% endif %}

with

reports as (

    select * from {{ ref('int_public_service_reports_flattened') }}
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
        reports.dossiers_received,
        reports.dossiers_online,
        reports.dossiers_full_online,
        reports.dossiers_processed,
        reports.dossiers_processed_on_time,
        {{ safe_rate('reports.dossiers_online', 'reports.dossiers_received') }} as online_rate,
        {{ safe_rate('reports.dossiers_full_online', 'reports.dossiers_received') }}
            as full_online_rate,
        {{ safe_rate('reports.dossiers_processed_on_time', 'reports.dossiers_processed') }}
            as on_time_rate,
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
