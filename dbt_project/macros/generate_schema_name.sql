{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- Custom schema names are used verbatim (no target-schema prefix): the warehouse has
        exactly the schemas raw, staging, intermediate, snapshots and marts. -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
