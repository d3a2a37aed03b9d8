{% test recency(model, field, datepart, interval, compare_model=none, compare_field=none) %}
    {#- Fails when the newest `field` is older than a reference minus `interval` `datepart`s,
        or when the model is empty. The reference is max(compare_field) of compare_model when
        given (e.g. "the marts are caught up with raw"), else the current timestamp. -#}
    with

    newest as (
        select max({{ field }}) as newest_value
        from {{ model }}
    ),

    reference as (
        {%- if compare_model is not none %}
        select max({{ compare_field or field }}) as reference_value
        from {{ compare_model }}
        {%- else %}
        select current_timestamp as reference_value
        {%- endif %}
    )

    select
        newest.newest_value,
        reference.reference_value
    from newest
    cross join reference
    where
        newest.newest_value is null
        or newest.newest_value
        < reference.reference_value - interval '{{ interval }} {{ datepart }}'
{% endtest %}
