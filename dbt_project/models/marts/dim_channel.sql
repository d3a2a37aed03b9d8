-- dim_channel: one row per marketing channel (grain: channel), from the channel_definitions seed.

with

definitions as (
    select * from {{ ref('channel_definitions') }}
),

final as (
    select
        -- keys
        {{ surrogate_key(['channel']) }} as channel_key,

        -- attributes
        cast(channel as text) as channel,
        cast(is_paid as boolean) as is_paid,
        cast(description as text) as description
    from definitions
)

select * from final
