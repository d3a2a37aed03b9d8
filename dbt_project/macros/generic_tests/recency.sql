{% test recency(model, field, datepart, interval, compare_model=none, compare_field=none) %}
    {#- Fails when the newest `field` is older than a reference minus `interval` `datepart`s,
        or when the model is empty. The reference is max(compare_field) of compare_model when
        given (e.g. "the marts are caught up with raw"), else the current timestamp. The test's
        `where` config, which dbt applies to `model`, filters compare_model too: a daily build
        then compares the newest dates of its window, read from the window's partitions (raw's
        key leads with the id, so a max over all of raw reads every partition). -#}
    with

    newest as (
        select max({{ field }}) as newest_value
        from {{ model }}
    ),

    reference as (
        {%- if compare_model is not none %}
        select max({{ compare_field or field }}) as reference_value
        from {{ get_where_subquery(compare_model) }}
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
