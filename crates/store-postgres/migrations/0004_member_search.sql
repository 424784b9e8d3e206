-- Member search and listing.
-- name_key is the name folded as Roster folds search text (Rust's Unicode lowercase); the
-- application writes it. Rows written before this migration get lower(), which can differ
-- from Rust's folding for a few characters, until their name next changes.
ALTER TABLE identities ADD COLUMN name_key text;
UPDATE identities SET name_key = lower(name) WHERE name IS NOT NULL;

-- Keyset pages of one organization's members walk this index in id order.
CREATE INDEX memberships_org_id ON memberships (org_id, id);
