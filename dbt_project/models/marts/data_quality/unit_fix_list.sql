-- What each unit must fix, night by night: one row per (as_of_date, unit_code, submission_id)
-- whose latest published version is invalid (quarantined) and not yet superseded by a newer
-- version. The province sends this list back to the commune; it empties as corrections arrive.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns'
    )
}}

with

versions as (

    select * from {{ ref('int_submission_versions_validated') }}
    where updated_at < cast({{ as_of_date() }} + interval 1 day as timestamp) at time zone 'Asia/Ho_Chi_Minh'

),

latest as (

    select
        *,
        row_number() over (partition by submission_id order by version desc) as recency

    from versions

),

units as (

    select * from {{ ref('int_units_enriched') }}

),

final as (

    select
        {{ as_of_date() }} as as_of_date,
        latest.unit_code,
        units.unit_name,
        latest.form,
        latest.period,
        latest.submission_id,
        latest.version,
        latest.reasons,
        latest.updated_at,
        units.province_code

    from latest
    left join units on latest.unit_code = units.unit_code
    where latest.recency = 1
        and latest.is_checked
        and not latest.is_valid

)

select * from final
