with

source as (

    select * from {{ source('raw', 'submission_versions') }}

),

renamed as (

    select
        -- ids
        cast(submission_id as varchar) as submission_id,
        cast(version as integer) as version,
        cast(content_hash as varchar) as content_hash,
        cast(run_id as varchar) as run_id,

        -- what was reported
        cast(unit_code as varchar) as unit_code,
        cast(form as varchar) as form,
        cast(form_version as integer) as form_version,
        cast(period as varchar) as period,
        cast(status as varchar) as submission_status,
        -- the payload is stored once, in the record as received: extracted and NFC-normalised here
        cast(nfc_normalize(cast(coalesce(json_extract(record, '$.payload'), 'null') as varchar)) as json)
            as payload,
        cast(record as varchar) as record,

        -- timestamps
        cast(submitted_at as timestamptz) as submitted_at,
        cast(updated_at as timestamptz) as updated_at,
        cast(pulled_at as timestamptz) as pulled_at

    from source

)

select * from renamed
