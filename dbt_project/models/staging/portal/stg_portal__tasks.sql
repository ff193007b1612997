with

source as (

    select * from {{ source('raw', 'tasks') }}

),

renamed as (

    select
        cast(task_code as varchar) as task_code,
        cast(title as varchar) as task_title,
        cast(task_group as varchar) as task_group,
        cast(source as varchar) as source,
        cast(assigned_unit_code as varchar) as assigned_unit_code,
        cast(assigned_on as date) as assigned_on,
        cast(deadline as date) as deadline,
        cast(phase as integer) as phase,
        cast(pulled_at as timestamptz) as pulled_at

    from source

)

select * from renamed
