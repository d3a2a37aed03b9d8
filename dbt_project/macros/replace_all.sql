{% macro get_incremental_replace_all_sql(arg_dict) -%}
    {#- incremental_strategy='replace_all': the new rows replace every row, in the build's
        transaction (truncate, then insert). The same rows as a table materialization, but the
        relation stays the same one: dbt's table swap renames the old relation away and drops
        it with cascade, taking every view over it along, so those views had to be rebuilt on
        every daily build. For a model that emits all of its rows each run (one that folds its
        previous state into the new one). As with the swap, readers wait for the commit; a
        transaction that read the table before the build and reads it again after it
        committed finds it empty (TRUNCATE is not MVCC-safe). -#}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    truncate table {{ arg_dict['target_relation'] }};
    insert into {{ arg_dict['target_relation'] }} ({{ columns }})
    select {{ columns }}
    from {{ arg_dict['temp_relation'] }}
{%- endmacro %}
