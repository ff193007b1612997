with

source as (

    select * from {{ source('raw', 'validation_results') }}

),

renamed as (

    select
        cast(submission_id as varchar) as submission_id,
        cast(version as integer) as version,
        cast(content_hash as varchar) as content_hash,
        cast(is_valid as boolean) as is_valid,
        cast(reasons as varchar) as reasons,
        cast(checked_at as timestamptz) as checked_at

    from source

)

select * from renamed
