{% macro delete_vanished_rows(key_column, target_condition, upstream_condition='true') -%}
    {#- Post-hook of the incremental facts: delete+insert only replaces keys that are still
        produced, so a row whose key vanished upstream (a session renamed because a late event
        moved its start) would linger. Deletes target rows matching target_condition whose key
        int_events__stitched (rows matching upstream_condition) no longer has. No-op on full
        refresh and first build. -#}
    {%- if is_incremental() -%}
        delete from {{ this }} as target
    where
        {{ target_condition }}
        and not exists (
            select 1
            from {{ ref('int_events__stitched') }} as upstream
            where
                upstream.{{ key_column }} = target.{{ key_column }}
                and {{ upstream_condition }}
        )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
