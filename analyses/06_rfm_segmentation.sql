-- Business question: how are customers distributed across RFM segments, and how much revenue
--   does each segment hold?
-- Grain: one row per RFM segment (customers = identified users with at least one order).
-- How to read: customers and share_of_customers size the segment; avg_recency_days,
--   avg_frequency and avg_monetary describe its typical member; revenue_share is the segment's
--   slice of customer revenue. Scoring rules live in rpt_customer_rfm.

with

rfm as (
    select * from {{ ref('rpt_customer_rfm') }}
),

segments as (
    select
        rfm_segment,
        count(*) as customers,
        round(avg(recency_days), 1) as avg_recency_days,
        round(avg(frequency), 2) as avg_frequency,
        round(avg(monetary), 2) as avg_monetary,
        sum(monetary) as revenue
    from rfm
    group by rfm_segment
),

final as (
    select
        rfm_segment,
        customers,
        round(customers::numeric / sum(customers) over (), 4) as share_of_customers,
        avg_recency_days,
        avg_frequency,
        avg_monetary,
        revenue,
        round(revenue / nullif(sum(revenue) over (), 0), 4) as revenue_share
    from segments
)

select * from final
order by revenue desc, rfm_segment asc
