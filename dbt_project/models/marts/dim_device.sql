-- dim_device: one row per device type × browser × os (grain: device_key). Generated from the
-- value lists the user-agent macros can return, so it never needs a scan of the events.

with

device_types as (
    select device_type
    from (values ('desktop'), ('mobile'), ('tablet'), ('unknown')) as v (device_type)
),

browsers as (
    select browser
    from (
        values
        ('Bot'), ('Edge'), ('Opera'), ('Samsung Internet'), ('Firefox'), ('Chrome'), ('Safari'), ('Other')
    ) as v (browser)
),

operating_systems as (
    select os
    from (
        values ('Android'), ('iOS'), ('Windows'), ('ChromeOS'), ('macOS'), ('Linux'), ('Other')
    ) as v (os)
),

final as (
    select
        -- keys
        {{ surrogate_key(['device_types.device_type', 'browsers.browser', 'operating_systems.os']) }}
            as device_key,

        -- attributes
        device_types.device_type,
        browsers.browser,
        operating_systems.os
    from device_types
    cross join browsers
    cross join operating_systems
)

select * from final
