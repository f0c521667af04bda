-- 8: (as SQLite's 8) one show across vendors (issue 23). Each notice's show: show_key is the history key
-- of the show's first notice; title_key the folded title later notices of other sites are looked up by.
-- manual: set by `show merge`/`show split`; apart_from: the show a split took the notice out of.
CREATE TABLE shows(
    notice_key TEXT PRIMARY KEY,
    show_key TEXT NOT NULL,
    title_key TEXT NOT NULL,
    manual INTEGER NOT NULL DEFAULT 0,
    apart_from TEXT,
    linked_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX shows_title ON shows(title_key);
CREATE INDEX shows_show ON shows(show_key);
