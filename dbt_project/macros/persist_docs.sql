{% macro postgres__persist_docs(relation, model, for_relation, for_columns) -%}
    {#- dbt's default spends four round trips per relation, each with its Python-side logging
        and result tables: the relation's comment, two reads of its columns (to skip the
        documented columns it lacks) and the column comments. Here one DO block sets every
        comment and the server skips a documented column the relation lacks, with a warning
        in its log; the test suite fails on such a column instead (the catalog must hold
        every documented column). -#}
    {%- set statements = [] -%}
    {%- if for_relation and config.persist_relation_docs() and model.description -%}
        {%- do statements.append(alter_relation_comment(relation, model.description) | trim) -%}
    {%- endif -%}
    {%- if for_columns and config.persist_column_docs() and model.columns -%}
        {%- for column_name, column in model.columns.items() if column.description -%}
            {%- set attname = column_name if column.quote else column_name | lower -%}
            {%- set column_sql = adapter.quote(column_name) if column.quote else column_name -%}
            {%- do statements.append(
                "if exists (select from pg_catalog.pg_attribute where attrelid = target and "
                ~ "attname = '" ~ attname | replace("'", "''") ~ "' and attnum > 0 and not "
                ~ "attisdropped) then comment on column " ~ relation ~ "." ~ column_sql ~ " is "
                ~ postgres_escape_comment(column.description) ~ "; else raise warning "
                ~ "'column % is documented but not in %', '" ~ attname | replace("'", "''")
                ~ "', target; end if;"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if statements -%}
        {%- set body = statements | join("\n") -%}
        {%- if "$persist_docs$" in body -%}
            {%- do exceptions.raise_compiler_error(
                "The string $persist_docs$ is not allowed in descriptions (" ~ relation ~ ")."
            ) -%}
        {%- endif -%}
        {% call statement('persist_docs') -%}
            do $persist_docs$
            declare
                target regclass := '{{ relation.include(database=false) }}'::regclass;
            begin
            {{ body }}
            end
            $persist_docs$
        {%- endcall %}
    {%- endif -%}
{%- endmacro %}
