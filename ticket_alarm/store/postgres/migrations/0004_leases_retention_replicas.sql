-- 4: (SQLite's step 4 drops the legacy triggers: PostgreSQL never had them) outbox claims with a lease (two processes never take the same row; a dead holder's claim is
-- released when its lease ends), and what only a server database has: replicas with heartbeats and
-- the per-site crawl leases that decide which replica crawls which site.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until DOUBLE PRECISION;
CREATE INDEX outbox_pending ON outbox(route, next_attempt_at, id) WHERE status = 'pending';
-- retention: prune sent rows, old digest-log lines and stale HTTP-cache entries by age (as SQLite's 4)
CREATE INDEX outbox_sent ON outbox(status, sent_at);
CREATE INDEX digest_log_at ON digest_log(at);
CREATE INDEX http_cache_stored ON http_cache(stored_at);
CREATE INDEX reminders_updated ON reminders(status, updated_at);
CREATE TABLE replicas(
    id TEXT PRIMARY KEY,              -- host/pid/start: one process
    name TEXT NOT NULL,               -- what operators read: host and data_dir
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    stopped_at DOUBLE PRECISION
);
CREATE TABLE site_leases(
    site TEXT PRIMARY KEY,
    owner TEXT NOT NULL,              -- replicas.id
    since DOUBLE PRECISION NOT NULL,
    until DOUBLE PRECISION NOT NULL   -- database clock (epoch seconds): no skew between boxes
);
-- JSON text as jsonb for queries; \u0000 (valid JSON, refused by jsonb) is dropped first
CREATE FUNCTION ta_json(value TEXT) RETURNS JSONB LANGUAGE SQL IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT replace(value, '\u0000', '')::jsonb $$;
