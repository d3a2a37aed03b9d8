{#- A change log of dates between two incremental models: the producer's replace_window build
    records the dates of the rows it deletes or inserts, and the consumer rebuilds exactly those
    dates (replace_changed_dates), then empties the log. fct_sessions -> fct_daily_metrics: a
    daily build changes sessions of a handful of dates (the window's, plus the older dates of
    re-stitched devices and of moved first sessions), which no date range describes. -#}

{% macro changed_dates_log(log_name) -%}
    {#- The log table `log_name`, in the schema of the model being built: producer and consumer
        share a schema (both are marts). Its rows are dates (`changed_date`); a null row means
        every date. -#}
    {{ return(api.Relation.create(
        database=this.database, schema=this.schema, identifier=log_name, type='table'
    )) }}
{%- endmacro %}

{% macro prepare_changed_dates_log(role) -%}
    {#- Pre-hook of the producer (role='producer') and the consumer (role='consumer') of the log
        their `changed_dates_log` config names: creates the log if missing and locks it until the model's transaction ends, so the consumer's read,
        rebuild and emptying see the same rows. A log that has to be created starts with the
        null row: what changed before it existed is unknown (a warehouse built before the log,
        a dropped log, a restore without it). A producer built completely (first build, full
        refresh) marks every date changed; a consumer built completely reads every producer
        row, so starts from an empty log. The check and the create run under a transaction
        advisory lock on the log's name (changed_dates_log_lock_keys): a second build that
        finds no log while the first one's create is uncommitted waits for it, then finds the
        log, instead of failing on a duplicate table. -#}
    {%- if role not in ('producer', 'consumer') -%}
        {{ exceptions.raise_compiler_error("prepare_changed_dates_log: role must be 'producer' or 'consumer', got " ~ role) }}
    {%- endif -%}
    {%- set log = changed_dates_log(config.require('changed_dates_log')) -%}
    do $changed_dates_log$
    begin
        perform pg_advisory_xact_lock({{ changed_dates_log_lock_keys(log) }});
        if to_regclass('{{ log.include(database=false) }}') is null then
            create table {{ log }} (changed_date date);
            comment on table {{ log }} is 'Dates whose rows the producing model changed since the consuming model last rebuilt them (null: every date); written and emptied by dbt (macros/changed_dates.sql)';
            insert into {{ log }} (changed_date) values (null);
        end if;
    end
    $changed_dates_log$;
    lock table {{ log }} in share row exclusive mode;
    {%- if not is_incremental() %}
        {%- if role == 'producer' %}
    insert into {{ log }} (changed_date) values (null);
        {%- else %}
    delete from {{ log }};
        {%- endif %}
    {%- endif %}
{%- endmacro %}

{% macro changed_dates_log_lock_keys(log) -%}
    {#- The two keys of the transaction advisory lock that serialises creating the log `log` (a
        Relation): a key of this project's change logs, and the log's schema-qualified name. -#}
    hashtext('clickstream.changed_dates_log'), hashtext('{{ log.include(database=false) }}')
{%- endmacro %}

{% macro changed_dates_filter(column, changed_dates) -%}
    {#- True for the rows whose `column` is a date `changed_dates` (the log, or a CTE over it)
        lists, and for every row once it holds the null (every-date) row. -#}
    ({{ column }} in (select changed_date from {{ changed_dates }}) or exists (select from {{ changed_dates }} where changed_date is null))
{%- endmacro %}

{% macro log_changed_dates(statement, log_name) -%}
    {#- `statement` (a delete or insert ending in `returning <date> as changed_date`) with the
        distinct dates it returns appended to the log, in the same statement. -#}
    with changed as (
        {{ statement }}
    )
    insert into {{ changed_dates_log(log_name) }} (changed_date)
    select distinct changed.changed_date from changed
{%- endmacro %}

{% macro get_incremental_replace_changed_dates_sql(arg_dict) -%}
    {#- incremental_strategy='replace_changed_dates': the model rebuilds whole dates, those its
        producer's log lists (config `changed_dates_log`); the target's rows of those dates
        (config `date_column`) are deleted, the new rows inserted and the log emptied, in the
        model's transaction. A date left without rows (every session of it gone) loses its rows,
        which a delete+insert keyed on the new rows would have kept. -#}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set log_name = config.require('changed_dates_log') -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ changed_dates_filter(config.require('date_column'), changed_dates_log(log_name)) }};

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }}
    from {{ source }};

    delete from {{ changed_dates_log(log_name) }}
{%- endmacro %}
