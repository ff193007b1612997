-- One row per period: the province's connectivity, summed over the reporting units; the
-- rates are computed from the sums, never averaged.

with

connectivity_monthly as (

    select * from {{ ref('connectivity_monthly') }}

),

summed as (

    select
        period,
        province_code,
        count(*) as units_reporting,
        cast(sum(villages_total) as bigint) as villages_total,
        cast(sum(villages_no_signal) as bigint) as villages_no_signal,
        cast(sum(villages_weak_signal) as bigint) as villages_weak_signal,
        cast(sum(households_total) as bigint) as households_total,
        cast(sum(households_fiber) as bigint) as households_fiber,
        cast(sum(office_computers_total) as bigint) as office_computers_total,
        cast(sum(office_computers_outdated) as bigint) as office_computers_outdated,
        cast(sum(dead_zone_villages) as bigint) as dead_zone_villages

    from connectivity_monthly
    group by period, province_code

),

final as (

    select
        *,
        {{ safe_rate('households_fiber', 'households_total') }} as fiber_household_rate,
        {{ safe_rate('office_computers_outdated', 'office_computers_total') }}
            as outdated_computer_rate

    from summed

)

select * from final
