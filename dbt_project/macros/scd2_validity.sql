{#- The validity columns of an SCD2 dimension built from a snapshot, written once for every
    dim: the first version of a key is valid from the beginning of time (so events before the
    first extract still find a version); the open version ends at the snapshots'
    dbt_valid_to_current, 9999-12-31. Expects version_number (1 = a key's first version). -#}
{% macro scd2_validity() -%}
    case
        when version_number = 1 then cast('1900-01-01' as timestamp)
        else dbt_valid_from
    end as valid_from,
    dbt_valid_to as valid_to,
    dbt_valid_to = cast('9999-12-31' as timestamp) as is_current
{%- endmacro %}
