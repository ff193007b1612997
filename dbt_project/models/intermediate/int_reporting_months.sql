-- The reporting calendar: one row per month from `calendar_start` through the month before
-- the as-of date's month (empty when the as-of date lies in the first month).

with

months as (

    select cast(month_start as date) as month_start
    from generate_series(
        cast({{ calendar_start() }} as timestamp),
        cast(date_trunc('month', {{ as_of_date() }}) - interval 1 month as timestamp),
        interval 1 month
    ) as series (month_start)

),

final as (

    select
        strftime(month_start, '%Y-%m') as period,
        month_start,
        cast(month_start + interval 1 month - interval 1 day as date) as month_end

    from months

)

select * from final
