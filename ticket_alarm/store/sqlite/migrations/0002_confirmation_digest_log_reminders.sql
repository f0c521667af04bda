-- 2: change confirmation (a changed notice is held for a confirming cycle), the digest log
-- that `explain` shows, and reminders before the open
ALTER TABLE history ADD COLUMN pending_digest TEXT;
ALTER TABLE history ADD COLUMN pending_ticket TEXT;
ALTER TABLE history ADD COLUMN pending_cycles INTEGER NOT NULL DEFAULT 0;
CREATE TABLE digest_log(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    digest TEXT NOT NULL,
    ticket TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX digest_log_key ON digest_log(key, id);
CREATE TABLE reminders(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_key TEXT NOT NULL,
    site TEXT NOT NULL,
    route TEXT NOT NULL,
    offset_min INTEGER NOT NULL,
    open_at REAL NOT NULL,
    due_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'queued', 'skipped', 'cancelled')),
    updated_at REAL NOT NULL,
    UNIQUE(notice_key, route, offset_min)
);
CREATE INDEX reminders_due ON reminders(status, due_at);
