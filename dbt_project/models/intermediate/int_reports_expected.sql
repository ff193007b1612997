-- Every report expected for the reporting calendar (DHIS2 "expected reports"):
--   monthly forms: every commune-level unit active on at least one day of the month;
--   task_report: every unit assigned at least one task with assigned_on in or before the
--   month, active or not;
--   capacity_report: every commune-level unit or agency active on at least one day of the
--   quarter.
-- Each row carries its on-time limit as a local timestamp (due_local): the 5th of the next
-- month 23:59:59 for a month, the 10th of the month after the quarter for a quarter.

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

quarters as (

    select * from {{ ref('int_reporting_quarters') }}

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
        months.month_end,
        {{ monthly_report_deadline('months.month_start') }} as due_local

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
        months.month_end,
        {{ monthly_report_deadline('months.month_start') }} as due_local

    from months
    inner join tasks
        on tasks.assigned_on <= months.month_end

),

capacity_reports_expected as (

    select
        quarters.period,
        'capacity_report' as form,
        units.unit_code,
        quarters.quarter_start as month_start,
        quarters.quarter_end as month_end,
        {{ quarterly_report_deadline('quarters.quarter_start') }} as due_local

    from quarters
    inner join units
        on (units.is_commune_level or units.unit_type = 'agency')
        and units.active_from <= quarters.quarter_end
        and (units.active_to is null or units.active_to >= quarters.quarter_start)

),

unioned as (

    select * from monthly_forms_expected
    union all
    select * from task_reports_expected
    union all
    select * from capacity_reports_expected

)

select * from unioned
