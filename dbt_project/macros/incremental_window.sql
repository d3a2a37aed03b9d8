{% macro window_start(date_column='event_date') -%}
    {#- First event_date the incremental facts reprocess. build_day passes window_start = D - L;
        without it, the last `lateness_days` days the target already holds are redone. -#}
    {%- if var('window_start') -%}
        cast('{{ var("window_start") }}' as date)
    {%- else -%}
        (select coalesce(max({{ date_column }}), date '1900-01-01') - {{ var('lateness_days') | int }} from {{ this }})
    {%- endif -%}
{%- endmacro %}

{% macro window_end() -%}
    {#- Exclusive end of the reprocessed window (D + 1); open-ended when not given. -#}
    {%- if var('window_end') -%}
        cast('{{ var("window_end") }}' as date)
    {%- else -%}
        date '9999-12-31'
    {%- endif -%}
{%- endmacro %}
