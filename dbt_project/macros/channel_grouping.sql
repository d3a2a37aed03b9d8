{% macro channel_grouping(utm_source, utm_medium, refr_medium) -%}
    {#- Marketing channel of a visit from its landing event, in precedence order: explicit
        campaign tags (utm_medium, then utm_source), then the referrer class, else Direct.
        The channel names are the rows of the channel_definitions seed (dim_channel). -#}
    case
        when lower({{ utm_medium }}) in ('cpc', 'ppc', 'paidsearch', 'paid_search', 'sem')
            then 'Paid Search'
        when lower({{ utm_medium }}) in ('paid_social', 'paidsocial', 'social_paid', 'social-paid')
            then 'Paid Social'
        when lower({{ utm_medium }}) in ('display', 'banner', 'cpm') then 'Display'
        when lower({{ utm_medium }}) = 'affiliate' then 'Affiliate'
        when lower({{ utm_medium }}) in ('email', 'e-mail', 'newsletter') then 'Email'
        when lower({{ utm_medium }}) in ('social', 'organic_social') then 'Organic Social'
        when lower({{ utm_medium }}) = 'organic' then 'Organic Search'
        when lower({{ utm_medium }}) = 'referral' then 'Referral'
        when nullif({{ utm_source }}, '') is not null or nullif({{ utm_medium }}, '') is not null
            then 'Other Campaign'
        when {{ refr_medium }} = 'search' then 'Organic Search'
        when {{ refr_medium }} = 'social' then 'Organic Social'
        when {{ refr_medium }} = 'email' then 'Email'
        when {{ refr_medium }} = 'unknown' then 'Referral'
        when {{ refr_medium }} = 'internal' then 'Internal'
        else 'Direct'
    end
{%- endmacro %}
