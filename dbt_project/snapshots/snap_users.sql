{% snapshot snap_users %}
{{ config(
    unique_key='user_id',
    strategy='timestamp',
    updated_at='updated_at',
    dbt_valid_to_current="cast('9999-12-31' as timestamp)",
) }}

-- snap_users: SCD2 history of users, fed by the latest daily extract.

with

users as (
    select * from {{ ref('stg_raw__users') }}
),

latest_extract_date as (
    select max(extract_date) as extract_date
    from users
),

latest_extract as (
    select users.*
    from users
    inner join latest_extract_date
        on users.extract_date = latest_extract_date.extract_date
)

select
    user_id,
    email,
    first_name,
    last_name,
    city,
    country,
    loyalty_tier,
    marketing_opt_in,
    created_at,
    updated_at
from latest_extract

{% endsnapshot %}
