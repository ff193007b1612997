-- How each unit's pull went, night by night: one row per (as_of_date, unit_code) from the last
-- run that reported on that date. A unit the pipeline could not reach shows `failed` with the
-- error; its data arrives with a later night's pull, which resumes from its watermark.

with

pulls as (

    select * from {{ ref('stg_portal__unit_pulls') }}

),

units as (

    select unit_code, province_code from {{ ref('int_units_enriched') }}

),

last_run_per_night as (

    select as_of_date, arg_max(run_id, finished_at) as run_id
    from pulls
    group by as_of_date

),

final as (

    select
        pulls.as_of_date,
        pulls.unit_code,
        pulls.pull_outcome,
        pulls.pull_outcome = 'ok' as received,
        pulls.pull_error,
        pulls.versions_received,
        pulls.finished_at,
        pulls.run_id,
        pulls.pull_note,
        units.province_code

    from pulls
    inner join last_run_per_night using (as_of_date, run_id)
    left join units
        on pulls.unit_code = units.unit_code

)

select * from final
