{% test relationships_where(model, column_name, to, field, from_condition='true', to_condition='true') %}
    {#- Referential integrity on a subset: every non-null `column_name` of the rows matching
        from_condition must exist in `to`.`field` among the rows matching to_condition. Either
        condition may scope itself to a daily build's window with __window_start__
        (window_scoped): a parent that every child of the window must be among. -#}
    with

    children as (
        select {{ column_name }} as child_key
        from {{ model }}
        where {{ column_name }} is not null and ({{ window_scoped(from_condition) }})
    ),

    parents as (
        select {{ field }} as parent_key
        from {{ to }}
        where {{ window_scoped(to_condition) }}
    )

    select children.child_key
    from children
    left join parents on children.child_key = parents.parent_key
    where parents.parent_key is null
{% endtest %}
