-- Delivery ids a chat surface has handled (Slack event ids), shared by every replica so a
-- redelivery reaching another replica is recognised there too. Rows older than the
-- surface's window are deleted as new ones arrive.
CREATE TABLE seen_events (
    surface      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    seen_at      BIGINT NOT NULL,     -- unix milliseconds
    PRIMARY KEY (surface, event_id)
);
CREATE INDEX seen_events_by_time ON seen_events (seen_at);
