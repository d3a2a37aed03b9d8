{% macro window_setting(name) -%}
    {#- One setting of the reprocessed window: --vars when dbt is run by hand, else the
        CLICKSTREAM_DBT_<NAME> environment variable clickstream.dbt.run_dbt sets. The daily
        window travels in the environment because --vars are part of dbt's partial-parse
        checksum: a window that changes every day forced a full re-parse of the project on every
        build (3.8 s against 0.6 s). Read only while executing, so parsing never depends on it. -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = var(name, none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = env_var('CLICKSTREAM_DBT_' ~ name | upper, '') -%}
    {%- endif -%}
    {{ return(none if value is none or value == '' else value | string) }}
{%- endmacro %}

{% macro window_date(name) -%}
    {#- A window bound as a date literal, or none; rejects anything that is not YYYY-MM-DD. -#}
    {%- set value = window_setting(name) -%}
    {%- if value is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- do modules.datetime.date.fromisoformat(value) -%}
    {{ return("cast('" ~ value ~ "' as date)") }}
{%- endmacro %}

{% macro lateness_days() -%}
    {#- Days of lateness the pipeline accepts (Settings.lateness_days), 3 unless set. -#}
    {{ return((window_setting('lateness_days') or 3) | int) }}
{%- endmacro %}

{% macro window_start(date_column='event_date', fallback=none) -%}
    {#- First date the incremental models reprocess. build_day passes D - L; without it,
        `fallback` if given, else the last `lateness_days` days the target already holds. -#}
    {%- set start = window_date('window_start') -%}
    {%- if start -%}
        {{ start }}
    {%- elif fallback -%}
        cast('{{ fallback }}' as date)
    {%- else -%}
        (select coalesce(max({{ date_column }}), date '1900-01-01') - {{ lateness_days() }} from {{ this }})
    {%- endif -%}
{%- endmacro %}

{% macro late_days_end() -%}
    {#- The end of the window's late days, D = window_start + lateness_days, as a date
        expression, when the window is a daily build's (build_day sets late_days_by_device);
        none otherwise, so a window given by hand (a backfill) is rebuilt whole. In a daily
        build the late days [D-L, D) change only where day D's late arrivals land, so models
        with `window_partial_key` rebuild there only the devices those touched. -#}
    {%- set start = window_date('window_start') -%}
    {%- if start and (window_setting('late_days_by_device') or '') | lower == 'true' -%}
        {{ return('(' ~ start ~ ' + ' ~ lateness_days() ~ ')') }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{% macro window_end() -%}
    {#- Exclusive end of the reprocessed window (D + 2); open-ended when not given. -#}
    {{ return(window_date('window_end') or "date '9999-12-31'") }}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
    {#- dbt's `where` test config, plus the daily test scope. A `where` that mentions
        __window_start__ limits the test to the rows the incremental build rewrote (those dated
        from D - L on) when the build has a window and is not a --full-refresh; otherwise (full
        refresh, `dbt test` without a window) the filter is dropped and the test reads the whole
        relation. Overrides dbt's macro of the same name, as its docs suggest for custom logic. -#}
    {%- set where = config.get('where', '') -%}
    {%- if where and '__window_start__' in where -%}
        {%- set where = window_scoped(where) if window_start_for_tests() else '' -%}
    {%- endif -%}
    {%- if where -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro window_start_for_tests() -%}
    {#- What __window_start__ in a test filter stands for: the first date a windowed build that
        is not a --full-refresh rewrote (D - L), or none when the test must read everything (a
        complete build, a plain `dbt test`). -#}
    {%- set start = window_date('window_start') -%}
    {{ return(start if start and not flags.FULL_REFRESH else none) }}
{%- endmacro %}

{% macro window_scoped(condition) -%}
    {#- A test's filter with __window_start__ replaced: window_start_for_tests() on a daily
        build, else the beginning of time, so that the filter keeps every row. -#}
    {{ return(condition | replace('__window_start__', window_start_for_tests() or "date '-infinity'")) }}
{%- endmacro %}
