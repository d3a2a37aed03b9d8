-- dim_products: one row per product version (grain: product_sk = product_id × valid_from),
-- SCD2 from snap_products. Validity is [valid_from, valid_to); the open row ends 9999-12-31.

with

snapshot as (
    select * from {{ ref('snap_products') }}
),

versions as (
    select
        *,
        row_number() over (partition by product_id order by dbt_valid_from) as version_number
    from snapshot
),

final as (
    select
        -- keys
        {{ surrogate_key(['product_id', 'dbt_valid_from']) }} as product_sk,
        product_id,

        -- attributes
        product_name,
        category_l1,
        category_l2,
        category_l3,
        brand,
        price,
        is_discontinued,

        -- validity
        {{ scd2_validity() }}
    from versions
)

select * from final
