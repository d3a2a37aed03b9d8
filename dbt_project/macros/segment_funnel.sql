{% macro segment_funnel(segment_type) -%}
    {#- The funnel of one rpt_funnel_by_segment segment type (channel, device_type): one row per
        segment value, named after the segment type, with its share of sessions, revenue per
        session and conversion rank; the analyses by channel and by device are this query. -#}
with

segments as (
    select * from {{ ref('rpt_funnel_by_segment') }}
    where segment_type = '{{ segment_type }}'
),

final as (
    select
        segment_value as {{ segment_type }},
        sessions,
        round(sessions::numeric / nullif(sum(sessions) over (), 0), 4) as share_of_sessions,
        product_view_sessions,
        add_to_cart_sessions,
        checkout_sessions,
        purchase_sessions,
        product_view_rate,
        add_to_cart_rate,
        checkout_rate,
        purchase_rate,
        conversion_rate,
        weakest_step,
        revenue,
        round(revenue / nullif(sessions, 0), 2) as revenue_per_session,
        rank() over (order by conversion_rate desc nulls last) as conversion_rank
    from segments
)

select * from final
order by sessions desc, {{ segment_type }} asc
{%- endmacro %}
