-- 9: (as SQLite's 9) each alert a lane delivered in a message that can be edited: which message (and thread) carries
-- it, at which embed, for which notice, and the alert as it was sent (an edit re-renders the message
-- from these rows, the newest per embed). An edit of a message is a row too (its own outbox id).
CREATE TABLE posts(
    route TEXT NOT NULL,
    outbox_id BIGINT NOT NULL,
    message_id TEXT NOT NULL,
    thread_id TEXT,
    embed_index INTEGER NOT NULL,
    notice_key TEXT,
    alert TEXT NOT NULL,
    posted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (route, outbox_id)
);
CREATE INDEX posts_notice ON posts(route, notice_key);
CREATE INDEX posts_message ON posts(route, message_id);
CREATE INDEX posts_posted ON posts(route, posted_at);
