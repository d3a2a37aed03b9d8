{% macro surrogate_key(columns) -%}
    {#- md5 over the columns cast to text, joined with '-' and with nulls spelled out, so
        (null, 'a') and ('', 'a') get different keys. The one place surrogate keys are made. -#}
    md5(
        {%- for column in columns %}
        coalesce(cast({{ column }} as text), '_null_'){% if not loop.last %} || '-' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
