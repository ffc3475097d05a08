-- Who can deliver (R-MP-1): providers with framework contracts, contact persons with their
-- capacity and certificate, and the assignments and procurements that fill matching requests.

CREATE TABLE providers (
    id           text PRIMARY KEY,
    display_name text NOT NULL,
    cvr          text NOT NULL UNIQUE CHECK (cvr ~ '^[0-9]{8}$'),
    competences  text[] NOT NULL,
    revision     bigint NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE framework_contracts (
    provider_id             text NOT NULL REFERENCES providers (id),
    id                      text NOT NULL,
    reference               text NOT NULL,
    hourly_ore              bigint NOT NULL CHECK (hourly_ore > 0),
    valid_from              date NOT NULL,
    valid_to                date CHECK (valid_to >= valid_from),
    -- Empty = every municipality may buy under it.
    municipalities          text[] NOT NULL,
    competences             text[] NOT NULL,
    -- 0 = not limited.
    weekly_capacity_minutes int NOT NULL CHECK (weekly_capacity_minutes >= 0),
    revision                bigint NOT NULL DEFAULT 1,
    create_time             timestamptz NOT NULL DEFAULT now(),
    update_time             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider_id, id)
);

CREATE TABLE contact_persons (
    unit                    text NOT NULL,
    id                      text NOT NULL,
    display_name            text NOT NULL,
    employment              text NOT NULL CHECK (employment IN ('STAFF', 'HOURLY', 'PROVIDER')),
    provider_id             text REFERENCES providers (id),
    competences             text[] NOT NULL,
    gender                  int NOT NULL,
    municipalities          text[] NOT NULL,
    weekly_capacity_minutes int NOT NULL CHECK (weekly_capacity_minutes >= 0),
    -- Other duties (R-MP-4), as parallel arrays: kind (matching.v1.OtherDutyKind), minutes,
    -- description; their sum is kept beside them for the capacity check.
    duty_kinds              int[] NOT NULL,
    duty_minutes            int[] NOT NULL,
    duty_descriptions       text[] NOT NULL,
    other_duties_minutes    int NOT NULL CHECK (other_duties_minutes >= 0),
    -- Minutes per week booked by active assignments; changed only by the statement that checks
    -- capacity (R-MP-4).
    booked_minutes          int NOT NULL DEFAULT 0 CHECK (booked_minutes >= 0),
    free_minutes            int GENERATED ALWAYS AS
                                (weekly_capacity_minutes - other_duties_minutes - booked_minutes) STORED,
    -- The child-protection certificate (R-MP-6); result is matching.v1.CertificateResult.
    certificate_issue       date,
    certificate_result      int,
    certificate_expiry      date,
    state                   text NOT NULL CHECK (state IN ('ACTIVE', 'INACTIVE')),
    revision                bigint NOT NULL DEFAULT 1,
    create_time             timestamptz NOT NULL DEFAULT now(),
    update_time             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, id),
    -- The last line of R-MP-4: whatever the code does, nobody is ever booked beyond capacity.
    CONSTRAINT never_overbooked CHECK (booked_minutes + other_duties_minutes <= weekly_capacity_minutes),
    CONSTRAINT provider_employees_name_their_provider CHECK ((employment = 'PROVIDER') = (provider_id IS NOT NULL))
);
-- Matching's prefilter: active people serving a municipality, with enough free minutes.
CREATE INDEX contact_persons_by_area ON contact_persons USING gin (municipalities) WHERE state = 'ACTIVE';
CREATE INDEX contact_persons_by_free_minutes ON contact_persons (free_minutes) WHERE state = 'ACTIVE';

-- Hourly rates with validity (R-TC-3): the staff cost rate or the hourly wage.
CREATE TABLE contact_person_rates (
    unit        text NOT NULL,
    person_id   text NOT NULL,
    valid_from  date NOT NULL,
    valid_to    date CHECK (valid_to >= valid_from),
    hourly_ore  bigint NOT NULL CHECK (hourly_ore > 0),
    PRIMARY KEY (unit, person_id, valid_from),
    FOREIGN KEY (unit, person_id) REFERENCES contact_persons (unit, id) ON DELETE CASCADE
);

ALTER TABLE matching_requests
    ADD COLUMN assignment_id   text,
    ADD COLUMN procurement_id  text,
    ADD COLUMN proposed_unit   text,
    ADD COLUMN proposed_person text,
    -- When a proposal first found no suitable candidate (R-MP-5); DemandUnmet is published then.
    ADD COLUMN unmet_since     timestamptz;

CREATE TABLE procurements (
    municipality       text NOT NULL,
    id                 text NOT NULL,
    request            text NOT NULL,
    provider_id        text NOT NULL REFERENCES providers (id),
    contract_id        text,
    state              text NOT NULL CHECK (state IN ('REQUESTED', 'OFFERED', 'ORDERED', 'CANCELLED')),
    reason             text NOT NULL CHECK (reason IN ('SPECIAL_PROBLEM_AREA', 'NO_CAPACITY')),
    reason_note        text NOT NULL,
    minutes_per_week   int NOT NULL CHECK (minutes_per_week > 0),
    offered_hourly_ore bigint,
    offer_note         text NOT NULL DEFAULT '',
    agreed_hourly_ore  bigint,
    order_time         timestamptz,
    request_id         text NOT NULL,
    revision           bigint NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    UNIQUE (municipality, request_id),
    FOREIGN KEY (municipality, request) REFERENCES matching_requests (municipality, id),
    FOREIGN KEY (provider_id, contract_id) REFERENCES framework_contracts (provider_id, id),
    CHECK (state <> 'ORDERED' OR (agreed_hourly_ore > 0 AND order_time IS NOT NULL))
);
-- One purchase in progress per request.
CREATE UNIQUE INDEX one_open_procurement_per_request ON procurements (municipality, request)
    WHERE state IN ('REQUESTED', 'OFFERED');

CREATE TABLE assignments (
    municipality      text NOT NULL,
    id                text NOT NULL,
    request           text NOT NULL,
    -- The pseudonymous child, for continuity (R-MP-3) and the access log.
    person            text NOT NULL,
    unit              text NOT NULL,
    contact_person_id text NOT NULL,
    employment        text NOT NULL,
    procurement_id    text,
    agreed_hourly_ore bigint,
    state             text NOT NULL CHECK (state IN ('ACTIVE', 'ENDED')),
    minutes_per_week  int NOT NULL CHECK (minutes_per_week > 0),
    start_date        date NOT NULL,
    end_date          date CHECK (end_date >= start_date),
    end_note          text NOT NULL DEFAULT '',
    request_id        text NOT NULL,
    revision          bigint NOT NULL DEFAULT 1,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    UNIQUE (municipality, request_id),
    FOREIGN KEY (municipality, request) REFERENCES matching_requests (municipality, id),
    FOREIGN KEY (unit, contact_person_id) REFERENCES contact_persons (unit, id),
    CHECK ((state = 'ENDED') = (end_date IS NOT NULL))
);
-- One contact person at a time per request.
CREATE UNIQUE INDEX one_active_assignment_per_request ON assignments (municipality, request)
    WHERE state = 'ACTIVE';
-- A person's assignments (their own view; continuity).
CREATE INDEX assignments_by_contact_person ON assignments (unit, contact_person_id, create_time DESC, id DESC);
-- The municipality's list, newest first.
CREATE INDEX assignments_newest_first ON assignments (municipality, create_time DESC, id DESC);
