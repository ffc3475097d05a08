-- Kontakt's database roles, two per service:
--   kontakt_<service>_owner  owns the service's schema and runs its migrations
--                            (`kontakt migrate <service> --grant-to kontakt_<service>`);
--   kontakt_<service>        the running service: it may use its own schema's tables and
--                            nothing else (no DDL, no other schema; on the audit log only
--                            SELECT and INSERT). Those table rights are granted by the
--                            migration itself, after every migration, so new tables are covered.
--
-- Run once per database, as a superuser or a role with CREATEROLE that may create schemas
-- (psql -v ON_ERROR_STOP=1 -f roles.sql), before the first migration. Running it again changes
-- nothing. It sets no passwords: give each LOGIN role one afterwards (ALTER ROLE … PASSWORD, or
-- psql's \password), or use certificate or IAM authentication, and put the URLs in the
-- `kontakt-db` Secret. Plain SQL, so it also runs as an init script (docker-entrypoint-initdb.d,
-- CloudNativePG's postInitApplicationSQL).
DO $roles$
DECLARE
    service text;
    owner_role text;
    runtime_role text;
    object text;
BEGIN
    FOREACH service IN ARRAY ARRAY['referral', 'matching', 'timecost', 'followup'] LOOP
        owner_role := 'kontakt_' || service || '_owner';
        runtime_role := 'kontakt_' || service;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = owner_role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', owner_role);
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = runtime_role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', runtime_role);
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I',
                       current_database(), owner_role, runtime_role);
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', service, owner_role);
        -- A schema made earlier by someone else (an installation that migrated on start as
        -- `postgres`) changes hands with its tables, views and functions, so the owner role
        -- can migrate it from here on. Sequences and triggers go with their tables.
        IF (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = service)
               IS DISTINCT FROM quote_ident(owner_role) THEN
            EXECUTE format('ALTER SCHEMA %I OWNER TO %I', service, owner_role);
            FOR object IN
                SELECT format('ALTER %s %s OWNER TO %I',
                              CASE c.relkind WHEN 'v' THEN 'VIEW'
                                             WHEN 'm' THEN 'MATERIALIZED VIEW'
                                             ELSE 'TABLE' END,
                              c.oid::regclass, owner_role)
                FROM pg_class c
                WHERE c.relnamespace = service::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
                UNION ALL
                SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, owner_role)
                FROM pg_proc p
                WHERE p.pronamespace = service::regnamespace
            LOOP
                EXECUTE object;
            END LOOP;
        END IF;
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', service);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', service, runtime_role);
    END LOOP;
    -- Nobody creates objects in `public` (PostgreSQL 15's default; said again for older ones).
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
END
$roles$;
