{#
    safe_rate(numerator, denominator): a DOUBLE rate in [0, 1], NULL when the denominator is
    0 or unknown (MARTS.md: rates are never percentages and never divide by zero).
#}
{% macro safe_rate(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0)
{%- endmacro %}

{#
    local_timestamp(ts): the wall-clock time in Asia/Ho_Chi_Minh of a TIMESTAMPTZ, as a
    TIMESTAMP. Explicit, so results never depend on the session time zone.
#}
{% macro local_timestamp(ts) -%}
    timezone('Asia/Ho_Chi_Minh', {{ ts }})
{%- endmacro %}

{#
    monthly_report_deadline(month_start): the last local second at which a monthly report for
    the month starting on `month_start` (a DATE) is on time: the 5th of the following month,
    23:59:59 Asia/Ho_Chi_Minh (as a local TIMESTAMP; compare with local_timestamp()).
#}
{% macro monthly_report_deadline(month_start) -%}
    (cast({{ month_start }} as timestamp) + interval 1 month + interval 4 day
        + interval 23 hour + interval 59 minute + interval 59 second)
{%- endmacro %}

{#
    quarterly_report_deadline(quarter_start): the last local second at which a capacity_report
    for the quarter starting on `quarter_start` (a DATE) is on time: the 10th day of the month
    after the quarter, 23:59:59 Asia/Ho_Chi_Minh (as a local TIMESTAMP).
#}
{% macro quarterly_report_deadline(quarter_start) -%}
    (cast({{ quarter_start }} as timestamp) + interval 3 month + interval 9 day
        + interval 23 hour + interval 59 minute + interval 59 second)
{%- endmacro %}
