-- 5: outbox rows written before Alerts hold a Discord embed as their payload. Each one is rewritten in
-- place as the payload of a "legacy" Alert carrying that embed, which the Discord notifier posts as it
-- is (the same object notify.Alert.to_json writes, key for key). An embed is a JSON object with no
-- "alert" key, a string "title" and, if any, a "fields" array; a row that is not one is left as it is:
-- delivery makes it a dead letter, named by its id, when it reaches it (kept, never dropped).
-- Values are copied as JSON (json(payload -> path)), not as SQL text, which would end at a \u0000.
UPDATE outbox SET payload = json_object(
    'alert', 1,
    'kind', 'legacy',
    'title', json(payload -> '$.title'),
    'site_name', CASE WHEN json_type(payload, '$.author.name') = 'text'
        THEN json(payload -> '$.author.name') ELSE '' END,
    'color', CASE WHEN json_type(payload, '$.color') = 'integer' THEN json(payload -> '$.color') ELSE 0 END,
    'ticket', NULL,
    'before', NULL,
    'offset_min', NULL,
    'embed', json(payload)
)
WHERE CASE WHEN json_valid(payload) THEN
    json_type(payload) = 'object'
    AND json_type(payload, '$.alert') IS NULL
    AND json_type(payload, '$.title') = 'text'
    AND coalesce(json_type(payload, '$.fields'), 'array') = 'array'
ELSE 0 END
