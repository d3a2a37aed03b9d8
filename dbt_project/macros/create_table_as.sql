{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {#- dbt-postgres' create_table_as, changed for the contract-enforced tables (every mart's
        first or full build). dbt creates those empty with their constraints and fills them
        with one INSERT, and PostgreSQL never plans a data-modifying statement in parallel:
        fct_events' insert at 948K events took 10.5-11.2 s. Here the table is created by
        CREATE TABLE AS (which can use parallel workers: 5.7 s), each column cast to its
        declared type as the insert would, then one ALTER TABLE adds the not-nulls and
        constraints (one validating scan, 0.4-0.6 s) and the keys (one sorted index build each:
        maintaining the key row by row during the insert had cost 11.8 s against 7.5 + 1.4 s),
        and the table is analyzed, so the models reading it later in the same build are
        planned on statistics. A row breaking a constraint fails the build as before. The table
        ends up the same: columns in contract order with their declared types, constraints and
        key names. Tables with a length-limited character or bit type (whose explicit cast
        truncates where an insert fails) or a custom column constraint keep dbt's path. -#}
    {%- set contract_config = config.get('contract') -%}
    {%- set sql_header = config.get('sql_header', none) -%}
    {{ sql_header if sql_header is not none }}
    {%- if contract_config.enforced and not temporary %}
        {{ get_assert_columns_equivalent(sql) }}
        {%- set truncating_types = ['character varying', 'varchar', 'character', 'char', 'bpchar', 'bit', 'bit varying', 'varbit'] -%}
        {%- set casts = [] -%}
        {%- set not_null_columns = [] -%}
        {%- set table_constraints = [] -%}
        {%- set keep_insert = [] -%}
        {%- set key_columns = [] -%}
        {%- for name, column in model['columns'].items() -%}
            {%- set column_name = adapter.quote(column['name']) if column.get('quote') else column['name'] -%}
            {%- do casts.append('cast(' ~ column_name ~ ' as ' ~ column['data_type'] ~ ') as ' ~ column_name) -%}
            {%- set data_type = (column['data_type'] or '') | lower -%}
            {%- if '(' in data_type and data_type.split('(')[0] | trim in truncating_types -%}
                {%- do keep_insert.append(column_name) -%}
            {%- endif -%}
            {%- for constraint in column.get('constraints', []) -%}
                {%- if constraint['type'] == 'not_null' -%}
                    {%- do not_null_columns.append(column_name) -%}
                {%- elif constraint['type'] == 'custom' -%}
                    {%- do keep_insert.append(column_name) -%}
                {%- elif constraint['type'] == 'primary_key' -%}
                    {%- do key_columns.append(column_name) -%}
                {%- else -%}
                    {#- a column's check, unique or reference, as the same table constraint -#}
                    {%- do table_constraints.append(dict(constraint, columns=[column_name])) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- if key_columns -%}
            {#- columns declared primary_key one by one form one composite key (a table has one) -#}
            {%- do table_constraints.append({'type': 'primary_key', 'columns': key_columns}) -%}
        {%- endif -%}
        {%- if keep_insert %}
    create {% if config.get('unlogged', default=false) %}unlogged {% endif %}table {{ relation }}
        {{ get_table_columns_and_constraints() }};
    insert into {{ relation }} (
        {{ adapter.dispatch('get_column_names', 'dbt')() }}
    )
    (
        {{ get_select_subquery(sql) }}
    );
        {%- else %}
            {%- set clauses = [] -%}
            {%- for column_name in not_null_columns -%}
                {%- do clauses.append('alter column ' ~ column_name ~ ' set not null') -%}
            {%- endfor -%}
            {%- for rendered in adapter.render_raw_model_constraints(raw_constraints=table_constraints + model['constraints']) -%}
                {%- do clauses.append('add ' ~ rendered) -%}
            {%- endfor %}
    create {% if config.get('unlogged', default=false) %}unlogged {% endif %}table {{ relation }} as
    select
        {{ casts | join(',\n        ') }}
    from (
        {{ sql }}
    ) as model_subq;
            {%- if clauses %}
    alter table {{ relation }}
        {{ clauses | join(',\n        ') }};
            {%- endif %}
        {%- endif %}
    analyze {{ relation }};
    {%- else %}
        {%- if contract_config.enforced %}
        {{ get_assert_columns_equivalent(sql) }}
        {%- endif %}
    create {% if temporary -%}
        temporary
    {%- elif config.get('unlogged', default=false) -%}
        unlogged
    {%- endif %} table {{ relation }}
    as (
        {{ sql }}
    );
    {%- endif %}
{%- endmacro %}
