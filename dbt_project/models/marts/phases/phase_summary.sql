-- Green status of a province per phase, night by night: one row per (as_of_date, phase,
-- province_code) with at least one phase_status row. Communes are the commune-level units
-- (xa, phuong, dac_khu), agencies the others. The province is green when every agency is
-- (NULL without agencies), since the latest green_since among its agencies.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='as_of_date',
        on_schema_change='append_new_columns'
    )
}}

with

phase_status as (

    select
        *,
        unit_type in ('xa', 'phuong', 'dac_khu') as is_commune_level

    from {{ ref('phase_status') }}
    where as_of_date = {{ as_of_date() }}

),

counted as (

    select
        as_of_date,
        phase,
        province_code,
        count(*) filter (where is_commune_level) as communes_total,
        count(*) filter (where is_commune_level and is_green) as communes_green,
        count(*) filter (where not is_commune_level) as agencies_total,
        count(*) filter (where not is_commune_level and is_green) as agencies_green,
        max(green_since) filter (where not is_commune_level) as agencies_green_since

    from phase_status
    group by as_of_date, phase, province_code

),

final as (

    select
        as_of_date,
        phase,
        province_code,
        communes_total,
        communes_green,
        {{ safe_rate('communes_green', 'communes_total') }} as communes_green_rate,
        agencies_total,
        agencies_green,
        case when agencies_total > 0 then agencies_green = agencies_total end as province_green,
        case
            when agencies_total > 0 and agencies_green = agencies_total then agencies_green_since
        end as province_green_since

    from counted

)

select * from final
