-- 6: one reminder per sale (the general sale and each presale by name), not one per notice: the
-- reminders table gains `sale` ('' the general sale, as every existing row is) and its identity becomes
-- (notice_key, route, sale, offset_min). SQLite cannot change a UNIQUE constraint in place: the table is
-- rebuilt with its ids, and every row keeps its status (a queued one is never queued again).
CREATE TABLE reminders_per_sale(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notice_key TEXT NOT NULL,
    site TEXT NOT NULL,
    route TEXT NOT NULL,
    sale TEXT NOT NULL DEFAULT '',
    offset_min INTEGER NOT NULL,
    open_at REAL NOT NULL,
    due_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'queued', 'skipped', 'cancelled')),
    updated_at REAL NOT NULL,
    UNIQUE(notice_key, route, sale, offset_min)
);
INSERT INTO reminders_per_sale(id, notice_key, site, route, sale, offset_min, open_at, due_at, status, updated_at)
    SELECT id, notice_key, site, route, '', offset_min, open_at, due_at, status, updated_at FROM reminders;
DROP TABLE reminders;
ALTER TABLE reminders_per_sale RENAME TO reminders;
CREATE INDEX reminders_due ON reminders(status, due_at);
CREATE INDEX reminders_updated ON reminders(status, updated_at);
