{% macro create_analyst_role() -%}
    {#- Idempotent: roles are cluster-wide, so two projects (or tests) may race to create it;
        duplicate_object and unique_violation are swallowed. -#}
    do $$
    begin
        if not exists (select from pg_catalog.pg_roles where rolname = 'analyst') then
            create role analyst nologin;
        end if;
    exception
        when duplicate_object or unique_violation then null;
    end
    $$;
{%- endmacro %}

{% macro grant_marts_usage() -%}
    {#- dbt's `grants` config grants select on each mart; reading them also needs usage on the
        schema. The analyst never gets anything on raw (revoked explicitly in case it was). -#}
    {% if execute %}
    do $$
    begin
        if exists (select from pg_namespace where nspname = 'marts') then
            grant usage on schema marts to analyst;
        end if;
        if exists (select from pg_namespace where nspname = 'raw') then
            revoke all on schema raw from analyst;
            revoke all on all tables in schema raw from analyst;
        end if;
    end
    $$;
    {% endif %}
{%- endmacro %}
