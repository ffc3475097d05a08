-- A policy version not yet in force can be corrected (UpdatePolicy); what it said before each
-- correction is kept here, with who replaced it and when. One in force is only superseded by a
-- new version (another effective_from), never changed.
ALTER TABLE policies
    ADD COLUMN revision    bigint NOT NULL DEFAULT 1,
    ADD COLUMN update_time timestamptz;
UPDATE policies SET update_time = create_time;
ALTER TABLE policies ALTER COLUMN update_time SET NOT NULL,
                     ALTER COLUMN update_time SET DEFAULT now();

CREATE TABLE policy_revisions (
    municipality  text NOT NULL,
    policy_id     text NOT NULL,
    -- The revision this body was, before the correction that replaced it.
    revision      bigint NOT NULL,
    body          bytea NOT NULL,
    replaced_by   text NOT NULL,
    replace_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, policy_id, revision),
    FOREIGN KEY (municipality, policy_id) REFERENCES policies (municipality, id)
);
