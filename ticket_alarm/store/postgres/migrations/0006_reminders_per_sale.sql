-- 6: one reminder per sale (the general sale and each presale by name), not one per notice: `sale`
-- ('' the general sale, as every existing row is) joins the identity (notice_key, route, sale, offset_min).
ALTER TABLE reminders ADD COLUMN sale TEXT NOT NULL DEFAULT '';
ALTER TABLE reminders DROP CONSTRAINT reminders_notice_key_route_offset_min_key;
ALTER TABLE reminders ADD CONSTRAINT reminders_notice_key_route_sale_offset_min_key
    UNIQUE (notice_key, route, sale, offset_min);
