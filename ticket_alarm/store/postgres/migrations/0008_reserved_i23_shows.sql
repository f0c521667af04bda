-- 8: reserved for the shows step of branch i23-shows (its 0008_shows.sql replaces this file on merge).
SELECT 1;
