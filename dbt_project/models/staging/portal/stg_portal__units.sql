with

source as (

    select * from {{ source('raw', 'units') }}

),

renamed as (

    select
        cast(unit_code as varchar) as unit_code,
        cast(unit_name as varchar) as unit_name,
        cast(unit_type as varchar) as unit_type,
        cast(province_code as varchar) as province_code,
        cast(population as bigint) as population,
        cast(active_from as date) as active_from,
        cast(active_to as date) as active_to,
        cast(pulled_at as timestamptz) as pulled_at

    from source

)

select * from renamed
