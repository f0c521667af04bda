-- 1: the initial schema
CREATE TABLE history(
    key TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    site TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    title TEXT NOT NULL,
    ticket TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE INDEX history_site ON history(site, last_seen);
CREATE TABLE outbox(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    notice_key TEXT,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    sent_at REAL,
    message_id TEXT
);
CREATE INDEX outbox_due ON outbox(route, status, next_attempt_at, id);
CREATE INDEX outbox_notice ON outbox(notice_key);
CREATE TABLE site_state(
    site TEXT PRIMARY KEY,
    initialized INTEGER NOT NULL DEFAULT 0,
    last_attempt REAL,
    last_success REAL,
    last_failure REAL,
    failure_streak INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    empty_streak INTEGER NOT NULL DEFAULT 0,
    last_count INTEGER,
    last_invalid INTEGER NOT NULL DEFAULT 0,
    locked_until REAL
);
CREATE TABLE http_cache(
    key TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    body BLOB NOT NULL,
    stored_at REAL NOT NULL
);
CREATE TABLE webhook_state(
    route TEXT PRIMARY KEY,
    broken_reason TEXT,
    broken_at REAL
);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
