{#
    The run's variables, checked once and rendered as SQL.

    as_of_date      'YYYY-MM-DD', the local day the night reports on. Required: the var
                    (`dbt build --vars '{as_of_date: 2025-09-21}'`, rendered as a literal),
                    or else the one row of table raw.dbt_run_context, which the nightly writes
                    before it runs dbt (rendered as a scalar subquery). The nightly does not
                    pass a var or an env var: either changes every night and makes dbt re-parse
                    the whole project (measured: parse 5.7 s instead of 1.9 s on the demo).
    calendar_start  'YYYY-MM', the first month of the reporting calendar: the var, else env
                    COMMUNE_CALENDAR_START (fixed per deployment), else 2025-07.

    `--vars '{as_of_date: 2025-09-21}'` arrives as a YAML date, so values go through `string`.
#}

{# The var as checked text 'YYYY-MM-DD', or none when the var is not set. #}
{% macro as_of_date_value() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error(
            "The dbt var `as_of_date` must be a date YYYY-MM-DD, got '" ~ text ~ "'."
        ) }}
    {%- endif -%}
    {{- return(text) -}}
{%- endmacro %}

{% macro as_of_date() -%}
    {%- set text = as_of_date_value() -%}
    {%- if text is not none -%}
        cast('{{ text }}' as date)
    {%- else -%}
        (select as_of_date from raw.dbt_run_context)
    {%- endif -%}
{%- endmacro %}

{% macro calendar_start() -%}
    {%- set text = var('calendar_start', env_var('COMMUNE_CALENDAR_START', '2025-07')) | string | trim -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}$', text) -%}
        {{ exceptions.raise_compiler_error(
            "The dbt var `calendar_start` must be a month YYYY-MM, got '" ~ text ~ "'."
        ) }}
    {%- endif -%}
    cast('{{ text }}-01' as date)
{%- endmacro %}

{#
    Called from on-run-start so that `dbt run` / `dbt build` without an as-of date fails before
    any model is built, with one clear line. Other commands (seed, docs, ls) do not need it.
#}
{% macro require_as_of_date() -%}
    {%- if execute and flags.WHICH in ('run', 'build') and as_of_date_value() is none -%}
        {%- set context = adapter.get_relation(database=target.database, schema='raw',
                                               identifier='dbt_run_context') -%}
        {%- set rows = run_query('select count(*) from raw.dbt_run_context where as_of_date is not null')
                       if context is not none else none -%}
        {%- if rows is none or rows.columns[0].values()[0] != 1 -%}
            {{ exceptions.raise_compiler_error(
                "The dbt var `as_of_date` is required (the local day the night reports on, "
                ~ "YYYY-MM-DD). Run e.g. dbt build --vars '{as_of_date: 2025-09-21}'."
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
