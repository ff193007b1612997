-- One row per invalid submission version (quarantined, never counted), with every failed
-- check. Built from the raw history, which is kept forever: a version quarantined once stays
-- listed. first_seen_at is when the version was first pulled (TIMESTAMPTZ, as every timestamp).

with

validated_versions as (

    select * from {{ ref('int_submission_versions_validated') }}

),

units as (

    select unit_code, province_code from {{ ref('int_units_enriched') }}

),

final as (

    select
        validated_versions.submission_id,
        validated_versions.version,
        validated_versions.unit_code,
        -- NULL for a unit unknown to /units
        units.province_code,
        validated_versions.form,
        period,
        reasons,
        first_pulled_at as first_seen_at,
        form_version,
        submission_status,
        content_hash,
        submitted_at,
        updated_at,
        checked_at

    from validated_versions
    left join units
        on validated_versions.unit_code = units.unit_code
    where validated_versions.is_checked and not validated_versions.is_valid

)

select * from final
