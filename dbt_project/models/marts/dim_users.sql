-- dim_users: one row per user version (grain: user_sk = user_id × valid_from), SCD2 from
-- snap_users. Validity is [valid_from, valid_to); the open row ends 9999-12-31.

with

snapshot as (
    select * from {{ ref('snap_users') }}
),

versions as (
    select
        *,
        row_number() over (partition by user_id order by dbt_valid_from) as version_number
    from snapshot
),

final as (
    select
        -- keys
        {{ surrogate_key(['user_id', 'dbt_valid_from']) }} as user_sk,
        user_id,

        -- attributes
        email,
        city,
        country,
        loyalty_tier,
        marketing_opt_in,

        -- validity
        {{ scd2_validity() }}
    from versions
)

select * from final
