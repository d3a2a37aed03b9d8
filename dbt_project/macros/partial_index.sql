{% macro partial_index(columns, predicate) -%}
    {#- A post-hook creating the index `on this (columns) where predicate` unless the relation has
        it: dbt's `indexes` config has no WHERE. The name carries a hash of the definition and the
        relation's oid, so a --full-refresh's new table gets its own index while the old table
        (renamed away, dropped after the commit) still holds the old one, and a changed
        definition replaces the index instead of sitting beside it. -#}
    {%- set definition = columns | join(', ') ~ ' where ' ~ predicate -%}
    {#- at most 30 + 6 + 8 + 1 + 10 characters: within PostgreSQL's 63 -#}
    {%- set stem = this.identifier[:30] ~ '_pidx_' -%}
    {%- set prefix = stem ~ local_md5(definition)[:8] -%}
    {%- if '$partial_index$' in definition -%}
        {%- do exceptions.raise_compiler_error('partial_index: $partial_index$ in the definition') -%}
    {%- endif -%}
    do $partial_index$
    declare
        target regclass := '{{ this.include(database=false) }}'::regclass;
        wanted text := '{{ prefix }}_' || target::oid;
        stale record;
    begin
        for stale in
            select index_class.relname
            from pg_catalog.pg_index as index
            inner join pg_catalog.pg_class as index_class on index.indexrelid = index_class.oid
            where
                index.indrelid = target
                and index_class.relname like '{{ stem | replace('_', '\\_') }}%'
                and index_class.relname != wanted
        loop
            execute format('drop index %I.%I', '{{ this.schema }}', stale.relname);
        end loop;
        execute format(
            'create index if not exists %I on %s ({{ columns | join(", ") }}) where %s',
            wanted, target, $predicate${{ predicate }}$predicate$
        );
    end
    $partial_index$
{%- endmacro %}
