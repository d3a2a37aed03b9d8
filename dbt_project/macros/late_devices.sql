{% macro late_devices(last_arrival_column, window_column, products=none) -%}
    {#- The CTEs `recent_users` and `late_devices` of a daily build (late_days_end() is set): the
        devices whose rows on the late days [D-L, D) can differ from the table's. A late event
        changes only its own device's rows (sessions, their numbering and the bot rate are per
        device), so those are the devices with an event there that arrived after the latest
        arrival the table's window holds (`last_arrival_column` of the rows whose
        `window_column` is in the window: a re-run of day D, or a build of an older day,
        rebuilds from that day's arrivals on), or with an event of a user - or, given
        `products` (the model's products CTE), a product - whose version starts in the window.
        Reads the model's `events`, `users` and `identities` CTEs, only their raw columns, so
        the planner drops the staging view's joins (all unique). A table from before
        `last_arrival_column` existed rebuilds every device's late days. -#}
    {%- set late_end = late_days_end() -%}
    {%- set has_last_arrival = this is string
        or last_arrival_column in adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
recent_users as (
    -- users with a version that starts in the window: their rows there may change version
    select users.user_id
    from users
    where users.valid_from >= cast({{ window_start() }} as timestamp)
),

late_devices as (
    select events.anonymous_id
    from events
    where
        events.event_date >= {{ window_start() }}
        and events.event_date < {{ late_end }}
        and (
            {% if has_last_arrival -%}
            events.arrival_date >= (
                select least({{ late_end }}, coalesce(max(existing.{{ last_arrival_column }}) + 1, {{ window_start() }}))
                from {{ this }} as existing
                where
                    existing.{{ window_column }} >= {{ window_start() }}
                    and existing.{{ window_column }} < {{ window_end() }}
            )
            {%- else -%}
            events.arrival_date >= {{ window_start() }}
            {%- endif %}
            or events.logged_user_id in (select recent_users.user_id from recent_users)
            {%- if products %}
            or events.product_id in (
                select {{ products }}.product_id
                from {{ products }}
                where {{ products }}.valid_from >= cast({{ window_start() }} as timestamp)
            )
            {%- endif %}
        )
    union
    -- the devices stitched to such a user (an event's user is its login, else its device's)
    select identities.anonymous_id
    from identities
    where identities.user_id in (select recent_users.user_id from recent_users)
)
{%- endmacro %}
