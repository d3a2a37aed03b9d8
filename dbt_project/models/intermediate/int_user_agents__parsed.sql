-- int_user_agents__parsed: one row per distinct user agent (grain: useragent) with its browser
-- and os family. Incremental: a daily build parses only the agents of the window's events that
-- the table lacks, instead of grouping the agents of the whole history; see the model docs.
{#- parser_version fingerprints the parsing macros: rows parsed by other macros are deleted
    (pre-hook) and the whole history's agents parsed again, so a changed regex never leaves
    stale families behind on an incremental build. -#}
{%- set parser_version = local_md5(ua_browser('useragent') ~ ua_os('useragent')) -%}
{%- set reparse_history = true -%}
{%- if execute and is_incremental() -%}
    {%- set stale = run_query(
        'select exists (select from ' ~ this ~ " where parser_version != '" ~ parser_version ~ "')"
    ).columns[0].values()[0] -%}
    {%- set reparse_history = stale or not window_setting('window_start') -%}
{%- endif %}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    indexes=[{'columns': ['useragent'], 'unique': true}],
    pre_hook=[
        "{% if is_incremental() %}delete from {{ this }} where parser_version != '"
        ~ parser_version ~ "'{% endif %}",
    ],
) }}

with

events as (
    select * from {{ ref('stg_raw__events') }}
    {% if not reparse_history -%}
        where event_date >= {{ window_start() }} and event_date < {{ window_end() }}
    {%- endif %}
),

{% if is_incremental() %}

parsed as (
    select * from {{ this }}
),

{% endif %}

new_agents as (
    -- the group by keeps the parse at this level: one parse per distinct agent
    select events.useragent
    from events
    {% if is_incremental() -%}
        left join parsed
            on events.useragent = parsed.useragent
    {%- endif %}
    where
        events.useragent is not null
    {% if is_incremental() -%}
            and parsed.useragent is null
        {%- endif %}
    group by events.useragent
),

final as (
    select
        useragent,
        {{ ua_browser('useragent') }} as browser,
        {{ ua_os('useragent') }} as os,
        '{{ parser_version }}' as parser_version
    from new_agents
)

select * from final
