-- A proposal asks, for every candidate, whether they already know the child (continuity,
-- R-MP-3): without this index that question scans every assignment in the country.
CREATE INDEX assignments_by_child ON assignments (person);
