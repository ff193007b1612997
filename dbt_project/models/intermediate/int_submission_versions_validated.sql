-- One row per submission version: the version's first-pulled record and whether it is valid.
-- A version re-served with different bytes has several content_hash rows; the first pulled is
-- the one that counts (ties: smallest content_hash, so the choice never flips between nights).
-- Incremental: the raw history is append-only and a version's first pull never changes, so a
-- night adds the versions first pulled since the newest first_pulled_at already here; only those
-- raw rows are read and parsed.

{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns'
    )
}}

with

versions as (

    select * from {{ ref('stg_portal__submission_versions') }}
    {% if is_incremental() %}
    where pulled_at > {{ incremental_high_water('first_pulled_at') }}
    {% endif %}

),

validation_results as (

    select * from {{ ref('stg_portal__validation_results') }}

),

versions_ranked as (

    select
        *,
        row_number() over (
            partition by submission_id, version
            order by pulled_at, content_hash
        ) as pull_rank

    from versions

),

first_pulled as (

    select * exclude (pull_rank)
    from versions_ranked
    where pull_rank = 1
    {% if is_incremental() %}
        -- a version already here was first pulled earlier: later bytes for it change nothing
        and not exists (
            select 1 from {{ this }} as known
            where known.submission_id = versions_ranked.submission_id
                and known.version = versions_ranked.version
        )
    {% endif %}

),

validated as (

    select
        first_pulled.submission_id,
        first_pulled.version,
        first_pulled.content_hash,
        first_pulled.unit_code,
        first_pulled.form,
        first_pulled.form_version,
        first_pulled.period,
        first_pulled.submission_status,
        first_pulled.payload,
        first_pulled.submitted_at,
        first_pulled.updated_at,
        first_pulled.pulled_at as first_pulled_at,
        validation_results.checked_at,
        validation_results.reasons,
        validation_results.submission_id is not null as is_checked,
        -- Withdrawn versions are not validated: a withdrawn version is never invalid.
        case
            when first_pulled.submission_status = 'withdrawn' then true
            else coalesce(validation_results.is_valid, false)
        end as is_valid

    from first_pulled
    left join validation_results
        on first_pulled.submission_id = validation_results.submission_id
        and first_pulled.version = validation_results.version
        and first_pulled.content_hash = validation_results.content_hash

)

select * from validated
