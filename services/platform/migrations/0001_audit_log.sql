-- The access log of personal data (R-DP-2), one per service schema: who touched which person's
-- data, how, why and when. Append-only: the triggers below refuse UPDATE, DELETE and TRUNCATE
-- for every role, the table's owner included, so neither a bug nor a compromised service can
-- rewrite history. (In production the service also runs as a role that does not own its
-- tables; see deploy/README.md.)
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    subject      text NOT NULL,
    roles        text[] NOT NULL,
    -- The municipality whose data was touched.
    municipality text,
    -- The pseudonymous person resource name; never a CPR number.
    person       text,
    resource     text NOT NULL,
    action       text NOT NULL CHECK (action IN ('READ', 'SEARCH', 'CREATE', 'UPDATE', 'DELETE')),
    purpose      text NOT NULL,
    method       text NOT NULL,
    trace_id     text
);

CREATE INDEX audit_log_person_at ON audit_log (person, at) WHERE person IS NOT NULL;

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
