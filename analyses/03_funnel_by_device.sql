-- Business question: which devices let visitors progress through the funnel, and at which step
--   does each device lose them (e.g. a mobile checkout problem)?
-- Grain: one row per device type (human sessions only).
-- How to read: *_sessions are closed-funnel counts and *_rate columns step conversion rates
--   from the previous step (definitions shared via rpt_funnel_by_segment); conversion_rate =
--   purchases / sessions; weakest_step is where this device type loses the most visitors;
--   share_of_sessions and revenue_per_session compare the device type's size and value.

{{ segment_funnel('device_type') }}
