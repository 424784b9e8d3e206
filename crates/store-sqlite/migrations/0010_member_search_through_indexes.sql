-- A member search's matches reach their memberships through indexes alone (issue 9).
--
-- The search (migration 0008) goes from each match of the trigram index to its identity by
-- `search_row`, then to the membership in the organization. Each step was an index read
-- followed by a read of the table's row for the one column the next step needs (the
-- identity's id, the membership's id), and on a file larger than the page cache each of
-- those rows is a page read of its own. With the columns in the indexes, a match costs two
-- index reads.

-- The identity's id beside its search row. The unique index on `search_row` alone stays:
-- it is the constraint that one row of the trigram index names one identity.
CREATE INDEX identities_search_row_id ON identities (search_row, id);

-- An identity's memberships with the organization, status and id each belongs to: the same
-- lookups as before by `identity_id`, now answered from the index.
DROP INDEX memberships_identity;
CREATE INDEX memberships_identity ON memberships (identity_id, org_id, status, id);
