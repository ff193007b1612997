-- One row per period: the province's dossiers summed over the reporting units; the rates are
-- computed from the sums.

with

public_services_monthly as (

    select * from {{ ref('public_services_monthly') }}

),

summed as (

    select
        period,
        province_code,
        count(*) as units_reporting,
        cast(sum(dossiers_received) as bigint) as dossiers_received,
        cast(sum(dossiers_online) as bigint) as dossiers_online,
        cast(sum(dossiers_full_online) as bigint) as dossiers_full_online,
        cast(sum(dossiers_processed) as bigint) as dossiers_processed,
        cast(sum(dossiers_processed_on_time) as bigint) as dossiers_processed_on_time

    from public_services_monthly
    group by period, province_code

),

final as (

    select
        *,
        {{ safe_rate('dossiers_online', 'dossiers_received') }} as online_rate,
        {{ safe_rate('dossiers_full_online', 'dossiers_received') }} as full_online_rate,
        {{ safe_rate('dossiers_processed_on_time', 'dossiers_processed') }} as on_time_rate

    from summed

)

select * from final
