-- One row per (period, province_code): the capacity of the reporting units summed; the rates
-- are computed from the sums, never averaged.

with

capacity_quarterly as (

    select * from {{ ref('capacity_quarterly') }}

),

summed as (

    select
        period,
        province_code,
        count(*) as units_reporting,
        count(*) filter (where unit_type not in ('xa', 'phuong', 'dac_khu')) as agencies_reporting,
        count(*) filter (where unit_type in ('xa', 'phuong', 'dac_khu')) as communes_reporting,
        count(*) filter (where has_dx_specialist) as units_with_dx_specialist,
        count(*) filter (where steering_committee) as units_with_steering_committee,
        cast(sum(officials_total) as bigint) as officials_total,
        cast(sum(dx_specialists) as bigint) as dx_specialists,
        cast(sum(officials_trained_dx) as bigint) as officials_trained_dx,
        cast(sum(information_systems) as bigint) as information_systems,
        cast(sum(systems_security_approved) as bigint) as systems_security_approved,
        cast(sum(security_assessments) as bigint) as security_assessments,
        cast(sum(vulnerabilities_found) as bigint) as vulnerabilities_found,
        cast(sum(vulnerabilities_open) as bigint) as vulnerabilities_open,
        cast(sum(devices_received) as bigint) as devices_received

    from capacity_quarterly
    group by period, province_code

),

final as (

    select
        *,
        {{ safe_rate('officials_trained_dx', 'officials_total') }} as trained_rate,
        {{ safe_rate('systems_security_approved', 'information_systems') }} as security_approved_rate

    from summed

)

select * from final
