-- 5: (as SQLite's 5) outbox rows written before Alerts hold a Discord embed as their payload. Each one is
-- rewritten in place as the payload of a "legacy" Alert carrying that embed verbatim (json, not jsonb: the
-- embed keeps its key order), the object notify.Alert.to_json writes, key for key. An embed is a JSON
-- object with no "alert" key, a string "title" and, if any, a "fields" array; a row that is not one is
-- left as it is: delivery makes it a dead letter, named by its id, when it reaches it (kept, never dropped).
-- A payload that is not JSON at all must not abort the step, so it is parsed by a function that says NULL.
-- The top-level values come from ta_json's jsonb (PostgreSQL's json operators refuse a \u0000 anywhere in
-- the document): a \u0000 in a title or author name is dropped there (the embed itself keeps it), and a
-- colour written as 1e3 counts as the integer 1000 (Python read it as a float, so 0): neither was written.
CREATE FUNCTION ta_try_json(value TEXT) RETURNS JSONB LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN ta_json(value);
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;
UPDATE outbox o SET payload = json_build_object(
    'alert', 1,
    'kind', 'legacy',
    'title', e.doc -> 'title',
    'site_name', CASE WHEN jsonb_typeof(e.doc -> 'author' -> 'name') = 'string'
        THEN e.doc -> 'author' -> 'name' ELSE '""'::jsonb END,
    -- an integer (3.0 is a float to Python, hence 0; jsonb keeps its ".0")
    'color', CASE WHEN jsonb_typeof(e.doc -> 'color') = 'number' AND (e.doc ->> 'color') ~ '^-?[0-9]+$'
        THEN e.doc -> 'color' ELSE '0'::jsonb END,
    'ticket', NULL,
    'before', NULL,
    'offset_min', NULL,
    'embed', o.payload::json
)::text
FROM (SELECT id, ta_try_json(payload) AS doc FROM outbox) AS e
WHERE o.id = e.id
    AND jsonb_typeof(e.doc) = 'object'
    AND NOT e.doc ? 'alert'
    AND jsonb_typeof(e.doc -> 'title') = 'string'
    AND coalesce(jsonb_typeof(e.doc -> 'fields'), 'array') = 'array';
DROP FUNCTION ta_try_json(TEXT);
