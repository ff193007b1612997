-- One row per invalid submission version (quarantined, never counted), with every failed
-- check. Built from the raw history, which is kept forever: a version quarantined once stays
-- listed. first_seen_at is the local (Asia/Ho_Chi_Minh) time the version was first pulled.

with

validated_versions as (

    select * from {{ ref('int_submission_versions_validated') }}

),

final as (

    select
        submission_id,
        version,
        unit_code,
        form,
        period,
        reasons,
        {{ local_timestamp('first_pulled_at') }} as first_seen_at,
        form_version,
        submission_status,
        content_hash,
        submitted_at,
        updated_at,
        checked_at

    from validated_versions
    where is_checked and not is_valid

)

select * from final
