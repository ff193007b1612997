{#
    The run's variables, checked once and rendered as SQL literals.

    as_of_date      'YYYY-MM-DD', the local day the night reports on. Required: the var, or
                    else env DBT_AS_OF_DATE (what the nightly DAG sets: a var that changes
                    every night would defeat dbt's partial parsing, ~4 s a night).
    calendar_start  'YYYY-MM', the first month of the reporting calendar: the var, else env
                    COMMUNE_CALENDAR_START, else 2025-07.

    `--vars '{as_of_date: 2025-09-21}'` arrives as a YAML date, so values go through `string`.
#}

{% macro as_of_date_value() -%}
    {%- set value = var('as_of_date', env_var('DBT_AS_OF_DATE', '')) or none -%}
    {%- if value is none or (value | string | trim) == '' -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "The dbt var `as_of_date` is required (the local day the night reports on, "
                ~ "YYYY-MM-DD). Run e.g. dbt build --vars '{as_of_date: 2025-09-21}'."
            ) }}
        {%- endif -%}
        {#- Parsing only: any well-formed date lets the project parse without the var. -#}
        {{- return('1970-01-01') -}}
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
    cast('{{ as_of_date_value() }}' as date)
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
    Called from on-run-start so that `dbt run` / `dbt build` without the var fails before any
    model is built, with one clear line. Other commands (seed, docs, ls) do not need the var.
#}
{% macro require_as_of_date() -%}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {%- do as_of_date_value() -%}
    {%- endif -%}
{%- endmacro %}
