{#
    Helpers of the incremental models (dbt's standard `is_incremental()` pattern). Both run a
    small query when the model builds incrementally and render its answer as SQL literals, so
    that DuckDB prunes the heavy views (windows over every version) by constants before it
    computes them: a subquery in the filter would be evaluated after them.
#}

{#
    incremental_high_water(column): the greatest `column` (a TIMESTAMPTZ) in the model's own
    table, as a literal; -infinity when the table is empty. Use inside `is_incremental()`.
#}
{% macro incremental_high_water(column) -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set value = run_query('select cast(max(' ~ column ~ ') as varchar) from ' ~ this).columns[0].values()[0] -%}
    {%- endif -%}
    cast('{{ value if value is not none else "-infinity" }}' as timestamptz)
{%- endmacro %}

{#
    touched_report_periods(form, unit_columns): the periods of the model's own table (a per-unit
    mart of `form`, keyed by period and unit_code) that must be recomputed: those with a
    submission of `form` whose counted version changed since the table's newest `loaded_at`
    (a new report, a correction, a withdrawal, at any age), and those with a row whose unit
    attributes (`unit_columns`) no longer match the unit registry. A sorted list of text.
#}
{% macro touched_report_periods(form, unit_columns) -%}
    {%- set query -%}
        select period
        from {{ ref('int_submissions_counted') }}
        where form = '{{ form }}'
            and loaded_at > (
                select coalesce(max(loaded_at), cast('-infinity' as timestamptz)) from {{ this }}
            )

        union

        select reported.period
        from {{ this }} as reported
        left join {{ ref('int_units_enriched') }} as units
            on reported.unit_code = units.unit_code
        where {% for column in unit_columns -%}
            reported.{{ column }} is distinct from units.{{ column }}{{ ' or ' if not loop.last }}
        {%- endfor %}

        order by 1
    {%- endset -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}

{# sql_text_list(values): `('a', 'b')` for an IN filter; `(null)`, matching nothing, when empty. #}
{% macro sql_text_list(values) -%}
    {%- if values | length == 0 -%}
        (null)
    {%- else -%}
        ({%- for value in values -%}
            '{{ value | replace("'", "''") }}'{{ ', ' if not loop.last }}
        {%- endfor -%})
    {%- endif -%}
{%- endmacro %}

{#
    delete_touched_report_periods(form, unit_columns, from_first=false): the pre-hook of a
    per-unit period mart built incrementally (strategy `append`): delete the periods that
    touched_report_periods() names (with from_first, every period from the earliest of them
    on), so that a period left without any report (its only one withdrawn) is emptied too,
    which `delete+insert` on the new rows' keys would miss. Nothing on a full build.
#}
{% macro delete_touched_report_periods(form, unit_columns, from_first=false) -%}
    {%- if is_incremental() -%}
        {%- set periods = touched_report_periods(form, unit_columns) -%}
        {%- if from_first -%}
            delete from {{ this }} where period >= '{{ periods | first if periods else "9999" }}'
        {%- else -%}
            delete from {{ this }} where period in {{ sql_text_list(periods) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
