-- legacy keys: hashes and records imported from the old script's notification_history.json
-- (`history import`). A notice whose identity key is listed is never alerted as new: the trigger
-- drops its "new" outbox rows; the history row is still written (with the live data), so later
-- changes are announced as usual. matched_at records when a crawl first met the key.
CREATE TABLE legacy_keys(
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL CHECK (source IN ('hash', 'record')),
    site TEXT,
    notice_id TEXT,
    title TEXT,
    seen_at REAL,
    imported_at REAL NOT NULL,
    matched_at REAL
);
CREATE TRIGGER legacy_matched AFTER INSERT ON history
WHEN EXISTS (SELECT 1 FROM legacy_keys WHERE key = NEW.key AND matched_at IS NULL)
BEGIN
    UPDATE legacy_keys SET matched_at = NEW.first_seen WHERE key = NEW.key;
END;
CREATE TRIGGER legacy_not_realerted BEFORE INSERT ON outbox
WHEN NEW.kind = 'new' AND NEW.notice_key IN (SELECT key FROM legacy_keys)
BEGIN
    SELECT RAISE(IGNORE);
END;
