-- Changing and ending grants (R-RV-11, R-RV-4), and listing grants and referrals.

-- A change's idempotency key (R-RV-10): a retried ChangeGrant finds the version it made.
ALTER TABLE grant_versions ADD COLUMN request_id text;
CREATE UNIQUE INDEX grant_versions_by_request
    ON grant_versions (municipality, grant_id, request_id) WHERE request_id IS NOT NULL;
-- A version that was to start after the grant ended never applies; it stays in the history.
ALTER TABLE grant_versions ADD COLUMN withdrawn boolean NOT NULL DEFAULT false;

ALTER TABLE grants ADD COLUMN end_reason text;
ALTER TABLE grants ADD COLUMN end_note text NOT NULL DEFAULT '';
-- R-RV-12, R-RV-4: who ended it, at which level, with which court or prosecution reference.
ALTER TABLE grants ADD COLUMN end_level text;
ALTER TABLE grants ADD COLUMN end_authority_reference text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN ended_by text NOT NULL DEFAULT '';
ALTER TABLE grants ADD CONSTRAINT grants_ended_has_reason
    CHECK ((state = 'ENDED') = (end_date IS NOT NULL AND end_reason IS NOT NULL));

-- Lists are newest first, keyset-paginated on (create_time, id), so a deep page costs what the
-- first does.
CREATE INDEX grants_newest ON grants (municipality, create_time DESC, id DESC);
CREATE INDEX referrals_newest ON referrals (municipality, create_time DESC, id DESC);
