-- 7: (as SQLite's 7) what a notice's second page gave (payload, JSON) or why it failed (error, failures,
-- retry_at), per notice and the list row it was read for (fingerprint). notice_key is the history key: a
-- row goes with its notice (prune).
CREATE TABLE notice_reads(
    site TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    notice_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    payload TEXT,
    error TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    retry_at DOUBLE PRECISION,
    stored_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (site, notice_id)
);
CREATE INDEX notice_reads_stored ON notice_reads(stored_at);
