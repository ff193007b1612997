-- One row per (period, unit_code) with a counting digital_skills_report ("Bình dân học vụ
-- số", digital literacy for all): its fields, participants, and coverage of the population by
-- the basic course, cumulated over the unit's counting reports up to the period.
-- Incremental by period: a change to period P changes the cumulative of every later period,
-- so a night deletes every period from the earliest it touched (pre-hook; see
-- macros/incremental_helpers.sql) and appends them recomputed; what came before comes from
-- the rows already built.

{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_touched_report_periods('digital_skills_report', ['unit_name', 'unit_type', 'province_code', 'population'], from_first=true) }}",
        on_schema_change='append_new_columns'
    )
}}
-- depends_on: {{ ref('int_submissions_counted') }}
{% if is_incremental() %}
    {% set touched_periods = touched_report_periods(
        'digital_skills_report', ['unit_name', 'unit_type', 'province_code', 'population']) %}
    {# past every period when nothing was touched #}
    {% set first_touched = touched_periods | first if touched_periods else '9999' %}
{% endif %}

with

reports as (

    select * from {{ ref('int_digital_skills_reports_flattened') }}
    {% if is_incremental() %}
    where period >= '{{ first_touched }}'
    {% endif %}

),

{% if is_incremental() %}
completed_before as (

    select unit_code, sum(people_completed_basic) as completed_basic
    from {{ this }}
    where period < '{{ first_touched }}'
    group by unit_code

),
{% endif %}

units as (

    select * from {{ ref('int_units_enriched') }}

),

cumulated as (

    select
        reports.*,
        reports.participants_officials
            + reports.participants_citizens
            + reports.participants_students as participants_total,
        sum(reports.people_completed_basic) over (
            partition by reports.unit_code
            order by reports.period
            rows between unbounded preceding and current row
        )
        {%- if is_incremental() %} + coalesce(completed_before.completed_basic, 0){% endif %}
            as cumulative_completed_basic

    from reports
    {% if is_incremental() %}
    left join completed_before
        on reports.unit_code = completed_before.unit_code
    {% endif %}

),

final as (

    select
        cumulated.period,
        cumulated.unit_code,
        units.unit_name,
        units.unit_type,
        units.province_code,
        cumulated.sessions_held,
        cumulated.participants_officials,
        cumulated.participants_citizens,
        cumulated.participants_students,
        cumulated.people_completed_basic,
        cumulated.vneid_activations,
        cumulated.participants_total,
        units.population,
        cast(cumulated.cumulative_completed_basic as bigint) as cumulative_completed_basic,
        {{ safe_rate('cumulated.cumulative_completed_basic', 'units.population') }}
            as coverage_rate,
        cumulated.submission_id,
        cumulated.counted_version as version,
        cumulated.submitted_at,
        cumulated.updated_at,
        cumulated.loaded_at

    from cumulated
    left join units
        on cumulated.unit_code = units.unit_code

)

select * from final
