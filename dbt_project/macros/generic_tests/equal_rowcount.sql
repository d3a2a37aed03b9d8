{% test equal_rowcount(model, compare_model, where_model='true', where_compare='true') %}
    {#- Fails when the two relations (optionally filtered) have different row counts. The test's
        `where` config, which dbt applies to `model`, filters compare_model too, so both sides
        count the same slice; where_model and where_compare filter one side each, and may scope it
        to a daily build's window with __window_start__ as the `where` config can. -#}
    with

    left_count as (
        select count(*) as n_rows from {{ model }} where {{ window_scoped(where_model) }}
    ),

    right_count as (
        select count(*) as n_rows from {{ get_where_subquery(compare_model) }} where {{ window_scoped(where_compare) }}
    )

    select
        left_count.n_rows as model_rows,
        right_count.n_rows as compare_model_rows
    from left_count
    cross join right_count
    where left_count.n_rows != right_count.n_rows
{% endtest %}
