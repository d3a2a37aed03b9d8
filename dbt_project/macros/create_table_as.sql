{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {#- dbt-postgres' create_table_as with two changes for the contract-enforced tables, which
        dbt creates empty with their constraints and fills with one insert: the primary key is
        added after the insert (one sorted index build; maintaining it row by row cost 11.8 s
        against 7.5 s + 1.4 s for fct_events at 940K events), and the new table is analyzed, so
        the models that read it later in the same build are planned on statistics (without
        them, fct_events joined the dimensions through external sorts of every event). The
        table ends up the same: the same columns, constraints, key and key name. -#}
    {%- set contract_config = config.get('contract') -%}
    {%- set sql_header = config.get('sql_header', none) -%}
    {{ sql_header if sql_header is not none }}
    {%- if contract_config.enforced and not temporary %}
        {{ get_assert_columns_equivalent(sql) }}
        {%- set key_columns = [] -%}
        {%- set columns = {} -%}
        {%- for name, column in model['columns'].items() -%}
            {%- set other_constraints = [] -%}
            {%- for constraint in column.get('constraints', []) -%}
                {%- if constraint['type'] == 'primary_key' -%}
                    {%- do key_columns.append(adapter.quote(column['name']) if column.get('quote') else column['name']) -%}
                {%- else -%}
                    {%- do other_constraints.append(constraint) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do columns.update({name: dict(column, constraints=other_constraints)}) -%}
        {%- endfor -%}
        {%- set column_ddl = adapter.render_raw_columns_constraints(raw_columns=columns) -%}
        {%- set model_ddl = adapter.render_raw_model_constraints(raw_constraints=model['constraints']) %}
    create {% if config.get('unlogged', default=false) %}unlogged {% endif %}table {{ relation }} (
        {{ (column_ddl + model_ddl) | join(',\n        ') }}
    );
    insert into {{ relation }} (
        {{ adapter.dispatch('get_column_names', 'dbt')() }}
    )
    (
        {{ get_select_subquery(sql) }}
    );
        {%- if key_columns %}
    alter table {{ relation }} add primary key ({{ key_columns | join(', ') }});
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
