-- Rule 2 of "Which submissions count": per submission_id, the counted version is the
-- highest-version valid version. An invalid newer version never displaces a valid older one;
-- a submission whose counted version is withdrawn counts nowhere and is left out here.

with

validated_versions as (

    select * from {{ ref('int_submission_versions_validated') }}

),

valid_versions_ranked as (

    select
        *,
        row_number() over (
            partition by submission_id
            order by version desc
        ) as version_rank

    from validated_versions
    where is_valid

),

counted_versions as (

    select
        submission_id,
        version as counted_version,
        unit_code,
        form,
        period,
        submission_status,
        payload,
        submitted_at,
        updated_at

    from valid_versions_ranked
    where version_rank = 1

)

select * exclude (submission_status)
from counted_versions
where submission_status <> 'withdrawn'
