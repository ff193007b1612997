-- Every report expected for the reporting calendar (DHIS2 "expected reports"):
--   monthly forms: every commune-level unit active on at least one day of the month;
--   task_report: every unit assigned at least one task with assigned_on in or before the
--   month, active or not.

with

months as (

    select * from {{ ref('int_reporting_months') }}

),

units as (

    select * from {{ ref('int_units_enriched') }}

),

tasks as (

    select * from {{ ref('stg_portal__tasks') }}

),

monthly_forms as (

    select form
    from (
        values
            ('connectivity_report'),
            ('digital_skills_report'),
            ('public_service_report')
    ) as forms (form)

),

monthly_forms_expected as (

    select
        months.period,
        monthly_forms.form,
        units.unit_code,
        months.month_start,
        months.month_end

    from months
    cross join monthly_forms
    inner join units
        on units.is_commune_level
        and units.active_from <= months.month_end
        and (units.active_to is null or units.active_to >= months.month_start)

),

task_reports_expected as (

    select distinct
        months.period,
        'task_report' as form,
        tasks.assigned_unit_code as unit_code,
        months.month_start,
        months.month_end

    from months
    inner join tasks
        on tasks.assigned_on <= months.month_end

),

unioned as (

    select * from monthly_forms_expected
    union all
    select * from task_reports_expected

)

select * from unioned
