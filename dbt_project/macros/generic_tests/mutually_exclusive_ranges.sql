{% test mutually_exclusive_ranges(model, lower_bound_column, upper_bound_column, partition_by=none, gaps='allowed') %}
    {#- SCD2 validity windows [lower, upper) within each partition must not overlap, must be
        non-empty, and with gaps='not_allowed' each must start where the previous one ended. -#}
    {%- if gaps not in ('allowed', 'not_allowed') -%}
        {{ exceptions.raise_compiler_error("gaps must be 'allowed' or 'not_allowed'") }}
    {%- endif -%}
    {%- set partition_clause = 'partition by ' ~ partition_by if partition_by else '' -%}
    with

    windows as (
        select
            {{ lower_bound_column }} as lower_bound,
            {{ upper_bound_column }} as upper_bound,
            lag({{ upper_bound_column }}) over (
                {{ partition_clause }} order by {{ lower_bound_column }}, {{ upper_bound_column }}
            ) as previous_upper_bound
        from {{ model }}
    )

    select *
    from windows
    where
        lower_bound is null
        or upper_bound is null
        or lower_bound >= upper_bound
        or previous_upper_bound > lower_bound
        {%- if gaps == 'not_allowed' %}
        or previous_upper_bound < lower_bound
        {%- endif %}
{% endtest %}
