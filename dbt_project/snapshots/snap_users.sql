{% snapshot snap_users %}
{{ config(
    unique_key='user_id',
    strategy='timestamp',
    updated_at='updated_at',
    dbt_valid_to_current="cast('9999-12-31' as timestamp)",
) }}

-- snap_users: SCD2 history of users, fed by the latest daily extract.

with

users as not materialized (
    -- not materialized: the latest extract is then read through the primary key
    -- (extract_date first), not every extract of the history hashed
    select * from {{ ref('stg_raw__users') }}
),

latest_extract_date as (
    select max(extract_date) as extract_date
    from users
),

latest_extract as (
    select users.*
    from users
    where users.extract_date = (select latest_extract_date.extract_date from latest_extract_date)
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
