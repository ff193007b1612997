with

source as (

    select * from {{ source('raw', 'reference_communes') }}

),

renamed as (

    select
        cast(commune_code as varchar) as commune_code,
        cast(province_code as varchar) as province_code,
        cast(province_name as varchar) as province_name,
        cast(commune_name as varchar) as commune_name,
        cast(commune_type as varchar) as commune_type,
        cast(full_name as varchar) as commune_full_name,
        cast(name_en as varchar) as commune_name_en,
        cast(area_km2 as double) as area_km2,
        cast(population as bigint) as population,
        cast(lat as double) as latitude,
        cast(lon as double) as longitude

    from source

)

select * from renamed
