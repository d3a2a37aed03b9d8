-- stg_raw__users: one row per user per daily extract (grain: extract_date, user_id).

with

source as (
    select * from {{ source('raw', 'users') }}
),

renamed as (
    select
        -- ids
        user_id,

        -- attributes
        lower(nullif(email, '')) as email,
        nullif(first_name, '') as first_name,
        nullif(last_name, '') as last_name,
        nullif(city, '') as city,
        nullif(upper(country), '') as country,
        lower(nullif(loyalty_tier, '')) as loyalty_tier,
        coalesce(marketing_opt_in, false) as marketing_opt_in,

        -- timestamps
        created_at,
        updated_at,
        extract_date,
        _loaded_at as loaded_at
    from source
)

select * from renamed
