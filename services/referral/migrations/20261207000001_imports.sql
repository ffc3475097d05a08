-- Arrangements brought over from a municipality's old system (ImportArrangement, DOMAIN.md's
-- transition). The old system's key, what the import made, and a digest of what it was given:
-- the same arrangement imported again answers with what the first import made, different
-- content under the same key is refused.
CREATE TABLE imports (
    municipality    text NOT NULL,
    source_system   text NOT NULL,
    source_id       text NOT NULL,
    -- SHA-256 of the encoded ImportedArrangement.
    digest          bytea NOT NULL,
    person_id       text NOT NULL,
    case_id         text NOT NULL,
    referral_id     text NOT NULL,
    grant_id        text NOT NULL,
    -- The basis the grant rests on (the decided one, or what replaced it).
    legal_basis     text NOT NULL,
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, source_system, source_id),
    FOREIGN KEY (municipality, grant_id) REFERENCES grants (municipality, id)
);
