-- The unit registry: every unit of the latest /units snapshot, with its population (the
-- portal's, else the reference list's) and whether it is commune-level (xã/phường/đặc khu:
-- rural commune, ward, special zone), i.e. expected to file the monthly forms.

with

units as (

    select * from {{ ref('stg_portal__units') }}

),

reference_communes as (

    select * from {{ ref('stg_portal__reference_communes') }}

),

enriched as (

    select
        units.unit_code,
        units.unit_name,
        units.unit_type,
        units.province_code,
        units.unit_type in ('xa', 'phuong', 'dac_khu') as is_commune_level,
        coalesce(units.population, reference_communes.population) as population,
        case
            when units.population is not null then 'portal'
            when reference_communes.population is not null then 'reference'
        end as population_source,
        units.active_from,
        units.active_to

    from units
    left join reference_communes
        on units.unit_code = reference_communes.commune_code

)

select * from enriched
