-- Retention of what grows without bound: the outbox and the access log (issue 27, item 7).

-- Who follows this service's feed, and how far each has certainly got. A consumer keeps its
-- cursor in its own schema, which the producer never reads; what the producer does see is where
-- each subscription asks to start (`after_sequence`): everything up to it has been applied by
-- that consumer for good. The feed records the highest such point per subscriber (the token's
-- subject, and the consumer's name when the subscriber gives one in `kontakt-consumer`), and the
-- outbox is pruned only below the lowest of them. A subscriber that is gone for good keeps its
-- row, and so holds the pruning back, until an operator deletes it.
CREATE TABLE feed_subscribers (
    subscriber     text PRIMARY KEY,
    after_sequence bigint NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now()
);

-- The access log is pruned oldest first, by time.
CREATE INDEX audit_log_at ON audit_log (at);

-- Still append-only for everyone: the one way to remove entries is prune_audit_log below,
-- which removes only entries older than the moment it is given, and says so to the trigger
-- through a transaction-local setting.
CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW'
       AND coalesce(current_setting('kontakt.audit_log_prune_before', true), '') <> ''
       AND OLD.at < current_setting('kontakt.audit_log_prune_before')::timestamptz THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Removes at most `batch` of the oldest entries older than `before` (a moment in the past);
-- returns how many. SECURITY DEFINER: the runtime role has no DELETE on the log (see
-- db::grant_runtime_role), so this function, run with its owner's rights, is all it can do.
-- The search path is the one it was created with (the service's schema), not the caller's.
CREATE FUNCTION prune_audit_log(before timestamptz, batch integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    removed bigint;
BEGIN
    IF before > now() THEN
        RAISE EXCEPTION 'the access log is pruned only before a moment in the past'
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
