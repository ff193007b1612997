with

source as (

    select * from {{ source('raw', 'unit_pulls') }}

),

renamed as (

    select
        cast(run_id as varchar) as run_id,
        cast(as_of_date as date) as as_of_date,
        cast(unit_code as varchar) as unit_code,
        cast(outcome as varchar) as pull_outcome,
        cast(error as varchar) as pull_error,
        cast(versions_received as integer) as versions_received,
        cast(finished_at as timestamptz) as finished_at,
        cast(note as varchar) as pull_note

    from source

)

select * from renamed
