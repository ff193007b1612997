-- One row per (period, unit_code) with a counting digital_skills_report ("Bình dân học vụ
-- số", digital literacy for all): its fields, participants, and coverage of the population by
-- the basic course, cumulated over the unit's counting reports up to the period.

with

reports as (

    select * from {{ ref('int_digital_skills_reports_flattened') }}

),

units as (

    select * from {{ ref('int_units_enriched') }}

),

cumulated as (

    select
        reports.*,
        reports.participants_officials
            + reports.participants_citizens
            + reports.participants_students as participants_total,
        sum(reports.people_completed_basic) over (
            partition by reports.unit_code
            order by reports.period
            rows between unbounded preceding and current row
        ) as cumulative_completed_basic

    from reports

),

final as (

    select
        cumulated.period,
        cumulated.unit_code,
        units.unit_name,
        units.unit_type,
        units.province_code,
        cumulated.sessions_held,
        cumulated.participants_officials,
        cumulated.participants_citizens,
        cumulated.participants_students,
        cumulated.people_completed_basic,
        cumulated.vneid_activations,
        cumulated.participants_total,
        units.population,
        cast(cumulated.cumulative_completed_basic as bigint) as cumulative_completed_basic,
        {{ safe_rate('cumulated.cumulative_completed_basic', 'units.population') }}
            as coverage_rate,
        cumulated.submission_id,
        cumulated.counted_version as version,
        cumulated.submitted_at,
        cumulated.updated_at

    from cumulated
    left join units
        on cumulated.unit_code = units.unit_code

)

select * from final
