{#
    Use custom schemas as named (`marts`, not `main_marts`): the published warehouse and the
    BI tools read schema `marts` whatever the target's default schema is.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
