{% snapshot snap_products %}
{{ config(
    unique_key='product_id',
    strategy='timestamp',
    updated_at='updated_at',
    dbt_valid_to_current="cast('9999-12-31' as timestamp)",
) }}

-- snap_products: SCD2 history of the catalogue, fed by the latest daily extract.

with

products as not materialized (
    -- not materialized: the latest extract is then read through the primary key
    -- (extract_date first), not every extract of the history hashed
    select * from {{ ref('stg_raw__products') }}
),

latest_extract_date as (
    select max(extract_date) as extract_date
    from products
),

latest_extract as (
    select products.*
    from products
    where products.extract_date = (select latest_extract_date.extract_date from latest_extract_date)
)

select
    product_id,
    product_name,
    category_l1,
    category_l2,
    category_l3,
    brand,
    price,
    currency,
    is_discontinued,
    created_at,
    updated_at
from latest_extract

{% endsnapshot %}
