{% macro late_devices(last_arrival_column, window_column, products=none, existing_columns=none) -%}
    {#- The CTEs `table_window`, `new_user_versions`, (given `products`) `new_product_versions`
        and `late_devices` of a daily build (late_days_end() is set): the devices whose rows on
        the late days [D-L, D) can differ from the table's. A late event changes only its own
        device's rows (sessions, their numbering and the bot rate are per device), so those are
        the devices with an event there that arrived after the latest arrival the table's
        window holds (`last_arrival_column` of the rows whose `window_column` is in the window:
        a re-run of day D, or a build of an older day, rebuilds from that day's arrivals on), or
        with an event of a user - or, given `products` (the model's products CTE), a product -
        with a version new since that build that starts on the late days. Reads the model's
        `events`, `users` and `identities` CTEs, only their raw columns, so the planner drops
        the staging view's joins (all unique). A table from before `last_arrival_column`
        existed rebuilds every device's late days (`existing_columns`: the table's column names,
        when the model has read them already). -#}
    {%- set late_end = late_days_end() -%}
    {%- if existing_columns is none and this is not string -%}
        {%- set existing_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {%- endif -%}
    {%- set has_last_arrival = this is string or last_arrival_column in existing_columns -%}
table_window as (
    -- the table's rows of the window, as the last build left them: read once
    select
        {% if has_last_arrival -%}
        existing.{{ last_arrival_column }} as last_arrival_date,
        {%- else -%}
        cast(null as date) as last_arrival_date,
        {%- endif %}
        existing.user_sk{% if products %},
        existing.product_sk
        {%- endif %}
    from {{ this }} as existing
    where
        existing.{{ window_column }} >= {{ window_start() }}
        and existing.{{ window_column }} < {{ window_end() }}
),

new_user_versions as (
    -- user versions starting on the late days that no row of the window carries: new since the
    -- last build (a version it knew is on the rows it built on and after the version's start;
    -- one starting from D on changes only rows this build rebuilds anyway). "Every version
    -- starting in the window" took in each day's changes again for three days: at 30 days x
    -- 20K events, 1.9K devices of the late days' 62K events where the new arrivals touch ~100
    {{ new_versions('users', 'user_id', 'user_sk') }}
),

{% if products -%}
new_product_versions as (
    -- product versions likewise
    {{ new_versions(products, 'product_id', 'product_sk') }}
),

{% endif -%}

late_devices as (
    select events.anonymous_id
    from events
    where
        events.event_date >= {{ window_start() }}
        and events.event_date < {{ late_end }}
        and (
            events.arrival_date >= (
                select least({{ late_end }}, coalesce(max(table_window.last_arrival_date) + 1, {{ window_start() }}))
                from table_window
            )
            or events.logged_user_id in (select new_user_versions.user_id from new_user_versions)
            {%- if products %}
            or events.product_id in (select new_product_versions.product_id from new_product_versions)
            {%- endif %}
        )
    union
    -- the devices stitched to such a user (an event's user is its login, else its device's)
    select identities.anonymous_id
    from identities
    where identities.user_id in (select new_user_versions.user_id from new_user_versions)
)
{%- endmacro %}

{% macro new_versions(dimension, natural_key, surrogate_key) -%}
    {#- The natural keys of `dimension`'s (a CTE of the model) versions that start on the late
        days and whose `surrogate_key` no row of `table_window` carries (see late_devices). -#}
    select {{ dimension }}.{{ natural_key }}
    from {{ dimension }}
    where
        {{ dimension }}.valid_from >= cast({{ window_start() }} as timestamp)
        and {{ dimension }}.valid_from < cast({{ late_days_end() }} as timestamp)
        and {{ dimension }}.{{ surrogate_key }} not in (
            select table_window.{{ surrogate_key }}
            from table_window
            where table_window.{{ surrogate_key }} is not null
        )
{%- endmacro %}

{% macro is_late_device(column, as_list=true) -%}
    {#- Whether the device `column` of a late-day row is one of the `late_devices`. As a list
        (`= any(array(...))`) where it filters the staging view: PostgreSQL pushes no condition
        holding a subquery into a view it cannot flatten (dbt's CTE-style views never are), so
        `in (select ...)` ran the view's joins on every late-day event before filtering. A list
        is searched linearly per row, though, so beyond late_devices_list_limit() devices (a
        first build after an upgrade, a build after skipped days) every device counts as late
        and the late days are rebuilt whole. `as_list=false` (a table's rows) probes a hashed
        subquery instead, under the same limit so that every use agrees. -#}
    (
        (select count(*) from late_devices) > {{ late_devices_list_limit() }}
        or {{ column }} {% if as_list -%}
        = any(array(select late_devices.anonymous_id from late_devices))
        {%- else -%}
        in (select late_devices.anonymous_id from late_devices)
        {%- endif %}
    )
{%- endmacro %}

{% macro late_devices_list_limit() -%}
    {#- Late devices beyond which a daily build rebuilds its late days whole (the var
        late_devices_list_limit, 500 in dbt_project.yml): searching a list of n devices costs
        ~10 ns x n per late-day event (1,878 devices: 1.25 s for 62K events), about what
        rebuilding the event costs at n = 500. -#}
    {{ return(var('late_devices_list_limit') | int) }}
{%- endmacro %}
