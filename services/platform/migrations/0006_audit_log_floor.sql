-- The shortest the access log is kept, whatever the service is told (KONTAKT_ACCESS_LOG_RETENTION):
-- prune_audit_log refuses a moment later than now() less this. The runtime role can neither
-- change it (db::grant_runtime_role revokes its writes) nor delete entries itself, so a service
-- that is taken over cannot wipe out the record of what it did recently. The schema's owner sets
-- it to what the municipality's data-protection rules require:
--     UPDATE <schema>.audit_log_floor SET min_age = interval '1 year';
-- 183 days (six months) by default: a conservative minimum, not a retention policy.
CREATE TABLE audit_log_floor (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    min_age  interval NOT NULL CHECK (min_age >= interval '0')
);
INSERT INTO audit_log_floor (min_age) VALUES (interval '183 days');

CREATE OR REPLACE FUNCTION prune_audit_log(before timestamptz, batch integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    removed bigint;
    floor interval;
BEGIN
    SELECT min_age INTO floor FROM audit_log_floor;
    IF before > now() - coalesce(floor, interval '0') THEN
        RAISE EXCEPTION 'the access log is kept at least % (audit_log_floor): not pruned before %',
            floor, before
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('kontakt.audit_log_prune_before', before::text, true);
    DELETE FROM audit_log
     WHERE id IN (SELECT id FROM audit_log WHERE at < before ORDER BY at LIMIT batch);
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('kontakt.audit_log_prune_before', '', true);
    RETURN removed;
END
$$;
