-- Rule 3 of "Which submissions count": one report per unit, form and period. Among the
-- counting submissions of a unit for the same form and period, the one whose counted version
-- has the latest updated_at wins (ties: greatest submission_id).

with

counted_submissions as (

    select * exclude (is_withdrawn)
    from {{ ref('int_submissions_counted') }}
    where not is_withdrawn

),

ranked as (

    select
        *,
        row_number() over (
            partition by unit_code, form, period
            order by updated_at desc, submission_id desc
        ) as report_rank

    from counted_submissions

)

select * exclude (report_rank)
from ranked
where report_rank = 1
