-- business rules leave SQL: the pipeline checks legacy keys itself (its counts say what it
-- suppressed) and names the legacy keys a crawl met, so both triggers go
DROP TRIGGER IF EXISTS legacy_not_realerted;
DROP TRIGGER IF EXISTS legacy_matched;
-- claim: an outbox row taken by a delivery lane is leased (owner, expiry); an expired lease frees it
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until REAL;
-- retention: prune sent rows, old digest-log lines and stale HTTP-cache entries by age
CREATE INDEX outbox_sent ON outbox(status, sent_at);
CREATE INDEX digest_log_at ON digest_log(at);
CREATE INDEX http_cache_stored ON http_cache(stored_at);
CREATE INDEX reminders_updated ON reminders(status, updated_at);
