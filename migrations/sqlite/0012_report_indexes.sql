-- Issue 12 (pages with 100,000 cases): the daily report — and so the wallboard, which
-- computes today's and last week's — reads one day's rows by time. Without these indexes
-- each of its reads scanned a whole table, and the agents' state at midnight was looked
-- up once per state change ever made (BENCHMARKS.md, "Pages with 100,000 cases").

-- The day's calls, by arrival (report::CALLS_SQL).
CREATE INDEX calls_arrived_at ON calls (arrived_at);
-- The day's audit events, by time (report::EVENTS_SQL, report::RATES_SQL).
CREATE INDEX case_events_at ON case_events (at);
-- Each agent's last state change before a moment (report::AGENT_EVENTS_SQL).
CREATE INDEX agent_events_extension_at ON agent_events (extension, at, id);
-- The cases changed since a moment, which may have been overdue then (report::STATUS_SQL).
CREATE INDEX cases_updated_at ON cases (updated_at);
