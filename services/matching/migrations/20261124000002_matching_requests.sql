-- Matching requests: one per grant, opened by GrantApproved and kept in step with GrantChanged
-- and GrantEnded from the referral service's feed (DOMAIN.md §6, §8). The request's id is the
-- grant's, so a replayed event finds the request it made.
CREATE TABLE matching_requests (
    municipality      text NOT NULL,
    id                text NOT NULL,
    -- The pseudonymous child (`municipalities/{m}/persons/{p}`), for continuity (R-MP-3).
    person            text NOT NULL,
    recipient         int NOT NULL,
    state             text NOT NULL CHECK (state IN ('OPEN', 'PROPOSED', 'PROCUREMENT', 'ORDERED', 'ASSIGNED', 'CLOSED')),
    -- What to look for (R-MP-3): competence codes, preferred gender (matching.v1.Gender), age.
    competences       text[] NOT NULL,
    preferred_gender  int NOT NULL,
    age_years         int NOT NULL,
    description       text NOT NULL,
    -- The grant's terms as of its latest version.
    minutes_per_week  int NOT NULL CHECK (minutes_per_week > 0),
    minutes_from      date NOT NULL,
    start_date        date NOT NULL,
    expected_end_date date NOT NULL,
    end_date          date,
    grant_version     text NOT NULL,
    revision          bigint NOT NULL DEFAULT 1,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id)
);
-- The coordinator's lists: by state, oldest first (the age of unmet demand, R-MP-5).
CREATE INDEX matching_requests_by_state ON matching_requests (municipality, state, create_time, id);
