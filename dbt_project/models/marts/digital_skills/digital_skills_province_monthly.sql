-- One row per period: the province's digital-skills activity summed over the reporting
-- units. Coverage = Σ cumulative_completed_basic / Σ population, both over the reporting
-- units whose population is known.

with

digital_skills_monthly as (

    select * from {{ ref('digital_skills_monthly') }}

),

summed as (

    select
        period,
        province_code,
        count(*) as units_reporting,
        cast(sum(sessions_held) as bigint) as sessions_held,
        cast(sum(participants_officials) as bigint) as participants_officials,
        cast(sum(participants_citizens) as bigint) as participants_citizens,
        cast(sum(participants_students) as bigint) as participants_students,
        cast(sum(people_completed_basic) as bigint) as people_completed_basic,
        cast(sum(vneid_activations) as bigint) as vneid_activations,
        cast(sum(participants_total) as bigint) as participants_total,
        cast(sum(cumulative_completed_basic) as bigint) as cumulative_completed_basic,
        cast(sum(population) as bigint) as population,
        cast(sum(cumulative_completed_basic) filter (where population is not null) as bigint)
            as cumulative_completed_basic_with_population

    from digital_skills_monthly
    group by period, province_code

),

final as (

    select
        period,
        province_code,
        units_reporting,
        sessions_held,
        participants_officials,
        participants_citizens,
        participants_students,
        people_completed_basic,
        vneid_activations,
        participants_total,
        cumulative_completed_basic,
        population,
        cumulative_completed_basic_with_population,
        {{ safe_rate('cumulative_completed_basic_with_population', 'population') }}
            as coverage_rate

    from summed

)

select * from final
