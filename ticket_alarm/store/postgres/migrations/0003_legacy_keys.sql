-- 3: legacy keys, imported from the old script's notification_history.json (`history import`).
-- matched_at records when a crawl first met the key.
CREATE TABLE legacy_keys(
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('hash', 'record')),
    site TEXT,
    notice_id TEXT,
    title TEXT,
    seen_at DOUBLE PRECISION,
    imported_at DOUBLE PRECISION NOT NULL,
    matched_at DOUBLE PRECISION
);
