-- Business question: which acquisition channels bring visitors who progress through the funnel,
--   and at which step does each channel lose them?
-- Grain: one row per channel (human sessions only).
-- How to read: *_sessions are closed-funnel counts and *_rate columns step conversion rates
--   from the previous step (definitions shared via rpt_funnel_by_segment); conversion_rate =
--   purchases / sessions; weakest_step is where this channel loses the most visitors;
--   share_of_sessions and revenue_per_session compare the channel's size and value.

{{ segment_funnel('channel') }}
