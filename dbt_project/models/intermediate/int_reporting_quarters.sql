-- The quarters of the reporting calendar (capacity_report): those that begin in or after the
-- quarter of `calendar_start` and whose last month is covered, i.e. lies before the as-of
-- date's month (empty until the first such quarter has ended a month ago).

with

quarters as (

    select cast(quarter_start as date) as quarter_start
    from generate_series(
        cast(date_trunc('quarter', {{ calendar_start() }}) as timestamp),
        cast(date_trunc('month', {{ as_of_date() }}) - interval 3 month as timestamp),
        interval 3 month
    ) as series (quarter_start)

),

final as (

    select
        strftime(quarter_start, '%Y') || '-Q' || cast(quarter(quarter_start) as varchar) as period,
        quarter_start,
        cast(quarter_start + interval 3 month - interval 1 day as date) as quarter_end

    from quarters

)

select * from final
