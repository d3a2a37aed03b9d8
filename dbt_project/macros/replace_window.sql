{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {#- incremental_strategy='replace_window': delete+insert that replaces the whole reprocessed
        window. Deletes the target rows whose `window_column` falls in [window_start,
        window_end) - so rows that vanished upstream (a session renamed by a late event) go with
        them - and the rows outside it whose unique key the new rows carry (re-stitched devices),
        then inserts the new rows. `window_date_column` (default: window_column) is what the
        window start is derived from when no window is given. -#}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set unique_key = arg_dict['unique_key'] -%}
    {%- set column = config.require('window_column') -%}
    {%- set start = window_start(config.get('window_date_column') or column) -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ column }} >= {{ start }} and {{ column }} < {{ window_end() }};

    delete from {{ target }}
    where {{ unique_key }} in (select {{ unique_key }} from {{ source }});

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }}
    from {{ source }}
{%- endmacro %}
