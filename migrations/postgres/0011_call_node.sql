-- Several nodes share one database (PostgreSQL behind Kamailio): each call row names the
-- node that handles it (`[data] node`, by default the machine's hostname), so the
-- start-up crash recovery of one node closes only its own calls left open, never another
-- node's live ones. Rows written before this migration keep NULL: nobody knows their node,
-- and the next recovery (of any node) closes those still open.
ALTER TABLE calls ADD COLUMN node TEXT;
-- What the recovery looks for: the open calls, by node (only open rows are indexed).
CREATE INDEX calls_open_node ON calls (node) WHERE ended_at IS NULL;
