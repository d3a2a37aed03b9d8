-- fct_daily_metrics: one row per session date × channel × device type (bots excluded).
-- Sessions are dated by their start, so revenue of a session crossing midnight counts once.
-- Incremental: only the dates whose sessions fct_sessions' build changed (its change log) are
-- rebuilt, whole (replace_changed_dates strategy). See the model docs.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_changed_dates',
    changed_dates_log='fct_sessions__changed_dates',
    date_column='metric_date',
    pre_hook="{{ prepare_changed_dates_log('consumer') }}",
    on_schema_change='fail',
) }}

with

sessions as (
    select * from {{ ref('fct_sessions') }}
),

{% if is_incremental() %}

changed_dates as (
    -- the session dates fct_sessions' builds changed since this model's last build (a null row:
    -- every date); config.get, not require: a unit test renders this without the model's config
    select * from {{ changed_dates_log(config.get('changed_dates_log')) }}
),

{% endif %}

human_sessions as (
    select
        *,
        coalesce(user_id, anonymous_id) as user_key
    from sessions
    where
        not is_bot
    {% if is_incremental() -%}
            and {{ changed_dates_filter('session_date', 'changed_dates') }}
        {%- endif %}
),

aggregated as (
    select
        session_date,
        channel,
        device_type,
        count(*) as session_count,
        count(distinct user_key) as user_count,
        count(distinct user_key) filter (where is_first_session) as new_user_count,
        sum(order_count) as order_count,
        sum(revenue) as revenue,
        count(*) filter (where is_converted) as converted_count,
        count(*) filter (where is_bounce) as bounce_count
    from human_sessions
    group by session_date, channel, device_type
),

final as (
    select
        -- keys
        cast({{ date_key('session_date') }} as integer) as date_key,
        cast(session_date as date) as metric_date,
        cast(channel as text) as channel,
        cast(device_type as text) as device_type,

        -- measures
        cast(session_count as integer) as sessions,
        cast(user_count as integer) as users,
        cast(new_user_count as integer) as new_users,
        cast(order_count as integer) as orders,
        cast(revenue as numeric(14, 2)) as revenue,
        cast(round(1.0 * converted_count / session_count, 4) as numeric(7, 4)) as conversion_rate,
        cast(round(1.0 * bounce_count / session_count, 4) as numeric(7, 4)) as bounce_rate
    from aggregated
)

select * from final
