-- Rule 2 of "Which submissions count": per submission_id, the counted version is the
-- highest-version valid version. An invalid newer version never displaces a valid older one.
-- A submission whose counted version is withdrawn counts nowhere: it is kept here, flagged
-- is_withdrawn, so that the night of a withdrawal replaces the submission's row; the models
-- downstream leave it out.
-- Incremental (delete+insert on submission_id): versions are only ever added and a version's
-- validity never changes, so the counted version of a submission is the greater of the one
-- already here and the highest valid version first pulled since the newest loaded_at here.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='submission_id',
        on_schema_change='append_new_columns'
    )
}}

with

validated_versions as (

    select * from {{ ref('int_submission_versions_validated') }}
    {% if is_incremental() %}
    where first_pulled_at > {{ incremental_high_water('loaded_at') }}
    {% endif %}

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
        submission_status = 'withdrawn' as is_withdrawn,
        payload,
        submitted_at,
        updated_at,
        first_pulled_at as loaded_at

    from valid_versions_ranked
    where version_rank = 1

)

{% if is_incremental() %}

select counted_versions.*
from counted_versions
left join {{ this }} as previously_counted
    on counted_versions.submission_id = previously_counted.submission_id
-- a version older than the one already counted (pulled late) changes nothing
where previously_counted.counted_version is null
    or counted_versions.counted_version > previously_counted.counted_version

{% else %}

select * from counted_versions

{% endif %}
