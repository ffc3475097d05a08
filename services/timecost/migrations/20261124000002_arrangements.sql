-- What time & cost knows of the arrangements it prices, copied from the event feeds (DOMAIN.md
-- §8): grants and their weekly hours by effective date from the referral service (R-TC-2),
-- assignments and the contact persons' hourly rates from the matching service (R-TC-1,
-- R-TC-3). Each row is written only by the event handlers, so replays change nothing.

CREATE TABLE grants (
    municipality      text NOT NULL,
    id                text NOT NULL,
    person            text NOT NULL,
    start_date        date NOT NULL,
    expected_end_date date NOT NULL,
    end_date          date,
    PRIMARY KEY (municipality, id)
);

-- The granted minutes per week from each version's effective date (R-TC-2).
CREATE TABLE grant_terms (
    municipality     text NOT NULL,
    grant_id         text NOT NULL,
    effective_from   date NOT NULL,
    minutes_per_week int NOT NULL CHECK (minutes_per_week > 0),
    version          text NOT NULL,
    PRIMARY KEY (municipality, grant_id, effective_from)
);

CREATE TABLE assignments (
    municipality      text NOT NULL,
    id                text NOT NULL,
    grant_id          text NOT NULL,
    unit              text NOT NULL,
    contact_person_id text NOT NULL,
    employment        text NOT NULL CHECK (employment IN ('STAFF', 'HOURLY', 'PROVIDER')),
    -- A provider's person: the agreed price per hour (R-MP-2, R-TC-3).
    agreed_hourly_ore bigint,
    minutes_per_week  int NOT NULL,
    start_date        date NOT NULL,
    end_date          date,
    PRIMARY KEY (municipality, id)
);
CREATE INDEX assignments_by_contact_person ON assignments (unit, contact_person_id);

-- Staff cost rates or hourly wages (before holiday pay) with validity (R-TC-3).
CREATE TABLE person_rates (
    unit        text NOT NULL,
    person_id   text NOT NULL,
    valid_from  date NOT NULL,
    valid_to    date,
    hourly_ore  bigint NOT NULL CHECK (hourly_ore > 0),
    PRIMARY KEY (unit, person_id, valid_from)
);
