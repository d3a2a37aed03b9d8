{% macro date_key(date_expression) -%}
    {#- yyyymmdd integer key of a date or timestamp, the key of dim_date. -#}
    cast(to_char({{ date_expression }}, 'YYYYMMDD') as integer)
{%- endmacro %}
