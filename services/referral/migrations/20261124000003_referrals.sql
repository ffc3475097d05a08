-- The catalogue says for which ages a basis applies and whether it allows acting without the
-- custody holder's consent, so the age and consent rules (R-RV-3, R-RV-5) read data, not codes.
ALTER TABLE legal_bases
    ADD COLUMN min_age_years int CHECK (min_age_years >= 0),
    ADD COLUMN max_age_years int CHECK (max_age_years >= 0),
    ADD COLUMN without_consent boolean NOT NULL DEFAULT false;
UPDATE legal_bases SET max_age_years = 17 WHERE code IN ('bl-32-1-3', 'sel-52-3-6');
UPDATE legal_bases SET min_age_years = 10, max_age_years = 17, without_consent = true WHERE code = 'bl-39';
UPDATE legal_bases SET max_age_years = 17, without_consent = true WHERE code = 'sel-56';
UPDATE legal_bases SET min_age_years = 18, max_age_years = 22 WHERE code IN ('bl-113-116', 'sel-76');

-- A municipality's service standard, one row per version (R-RV-*, DOMAIN.md §10). The body is
-- the encoded kontakt.referral.v1.MunicipalityPolicy; the version in force on a day is the one
-- with the latest effective_from on or before it.
CREATE TABLE policies (
    municipality   text NOT NULL CHECK (municipality ~ '^[0-9]{3}$'),
    id             text NOT NULL CHECK (id ~ '^[a-z0-9-]{1,63}$'),
    effective_from date NOT NULL,
    body           bytea NOT NULL,
    created_by     text NOT NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    UNIQUE (municipality, effective_from)
);

-- A child's case in the municipality's own case system; one row per (case system, id).
CREATE TABLE cases (
    municipality text NOT NULL,
    id           text NOT NULL,
    case_system  text NOT NULL CHECK (length(case_system) BETWEEN 1 AND 100),
    external_id  text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 100),
    kle_number   text NOT NULL,
    person_id    text NOT NULL REFERENCES persons (id),
    counsellor   text NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    UNIQUE (municipality, case_system, external_id)
);

-- Action plans with their goals (encoded kontakt.referral.v1.Plan).
CREATE TABLE plans (
    municipality text NOT NULL,
    case_id      text NOT NULL,
    id           text NOT NULL,
    body         bytea NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    FOREIGN KEY (municipality, case_id) REFERENCES cases (municipality, id)
);

-- Referrals. What a counsellor writes is the encoded kontakt.referral.v1.Referral (`body`);
-- the columns are what is searched, constrained and changed only by the service's own steps.
CREATE TABLE referrals (
    municipality      text NOT NULL,
    id                text NOT NULL,
    case_id           text NOT NULL,
    person_id         text NOT NULL REFERENCES persons (id),
    counsellor        text NOT NULL,
    state             text NOT NULL CHECK (state IN ('DRAFT', 'SUBMITTED', 'IN_COMMITTEE', 'APPROVED', 'REJECTED', 'RETURNED')),
    body              bytea NOT NULL,
    -- The AIP-155 idempotency key of the create.
    request_id        text NOT NULL,
    committee_meeting text,
    -- Bumped by every change; the etag.
    revision          bigint NOT NULL DEFAULT 1,
    submit_time       timestamptz,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    FOREIGN KEY (municipality, case_id) REFERENCES cases (municipality, id),
    UNIQUE (municipality, request_id)
);
-- R-RV-10: a case has at most one referral in progress.
CREATE UNIQUE INDEX referrals_one_open_per_case ON referrals (municipality, case_id)
    WHERE state IN ('DRAFT', 'SUBMITTED', 'IN_COMMITTEE', 'RETURNED');

CREATE TABLE assessments (
    municipality text NOT NULL,
    referral_id  text NOT NULL,
    id           text NOT NULL,
    body         bytea NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    FOREIGN KEY (municipality, referral_id) REFERENCES referrals (municipality, id)
);

CREATE TABLE committee_meetings (
    municipality text NOT NULL,
    id           text NOT NULL,
    committee    text NOT NULL CHECK (length(committee) BETWEEN 1 AND 200),
    meeting_date date NOT NULL,
    state        text NOT NULL DEFAULT 'SCHEDULED' CHECK (state IN ('SCHEDULED', 'HELD')),
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id)
);

-- Visitation decisions, immutable (encoded kontakt.referral.v1.Decision).
CREATE TABLE decisions (
    municipality text NOT NULL,
    referral_id  text NOT NULL,
    id           text NOT NULL,
    outcome      text NOT NULL,
    body         bytea NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    FOREIGN KEY (municipality, referral_id) REFERENCES referrals (municipality, id)
);

-- Grants: the searchable facts as columns, the granted terms in immutable versions (R-RV-11).
CREATE TABLE grants (
    municipality      text NOT NULL,
    id                text NOT NULL,
    referral_id       text NOT NULL,
    case_id           text NOT NULL,
    person_id         text NOT NULL REFERENCES persons (id),
    counsellor        text NOT NULL,
    state             text NOT NULL CHECK (state IN ('ACTIVE', 'ENDED')),
    recipient         int NOT NULL,
    legal_basis       text NOT NULL,
    purpose           text NOT NULL,
    start_date        date NOT NULL,
    expected_end_date date NOT NULL,
    end_date          date,
    review_date       date,
    compulsory_until  date,
    revision          bigint NOT NULL DEFAULT 1,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    FOREIGN KEY (municipality, referral_id) REFERENCES referrals (municipality, id),
    CHECK (expected_end_date > start_date)
);
CREATE INDEX grants_by_person ON grants (municipality, person_id);
CREATE INDEX grants_by_counsellor ON grants (municipality, counsellor);

CREATE TABLE grant_versions (
    municipality     text NOT NULL,
    grant_id         text NOT NULL,
    id               text NOT NULL,
    minutes_per_week int NOT NULL CHECK (minutes_per_week > 0),
    effective_from   date NOT NULL,
    -- Last day in force; NULL while it is the latest.
    effective_to     date,
    -- Encoded repeated allowances (kontakt.referral.v1.GrantVersion without its name).
    body             bytea NOT NULL,
    create_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, grant_id, id),
    FOREIGN KEY (municipality, grant_id) REFERENCES grants (municipality, id),
    CHECK (effective_to IS NULL OR effective_to >= effective_from)
);
