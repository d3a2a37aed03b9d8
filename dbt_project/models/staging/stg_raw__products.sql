-- stg_raw__products: one row per product per daily extract (grain: extract_date, product_id).

with

source as (
    select * from {{ source('raw', 'products') }}
),

renamed as (
    select
        -- ids
        product_id,

        -- attributes
        nullif(product_name, '') as product_name,
        nullif(category_l1, '') as category_l1,
        nullif(category_l2, '') as category_l2,
        nullif(category_l3, '') as category_l3,
        nullif(brand, '') as brand,
        price,
        nullif(upper(currency), '') as currency,
        coalesce(is_discontinued, false) as is_discontinued,

        -- timestamps
        created_at,
        updated_at,
        extract_date,
        _loaded_at as loaded_at
    from source
)

select * from renamed
