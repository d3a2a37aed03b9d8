{% test not_null_proportion(model, column_name, at_least, at_most=1.0, where_condition='true') %}
    {#- Fails when the share of non-null values (among rows matching where_condition) falls
        outside [at_least, at_most]; an empty selection counts as proportion 1. -#}
    with

    proportion as (
        select
            coalesce(
                sum(case when {{ column_name }} is not null then 1.0 else 0.0 end)
                / nullif(count(*), 0),
                1.0
            ) as not_null_share
        from {{ model }}
        where {{ where_condition }}
    )

    select not_null_share
    from proportion
    where not_null_share < {{ at_least }} or not_null_share > {{ at_most }}
{% endtest %}
