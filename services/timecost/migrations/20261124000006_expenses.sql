-- Expenses (R-TC-5): the grants' supplementary allowances copied from the referral service's
-- events, the municipalities' mileage rates entered by finance, and the expenses themselves,
-- append-only like time entries. Expenses count in budget status as their own category.

-- The allowances of each grant version, from the version's effective date (R-RV-13). A later
-- version's set replaces the earlier one from its date; a kind missing from it is no longer
-- granted.
CREATE TABLE grant_allowances (
    municipality   text NOT NULL,
    grant_id       text NOT NULL,
    effective_from date NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('MILEAGE', 'ACTIVITY', 'INTERPRETER')),
    amount_ore     bigint NOT NULL CHECK (amount_ore >= 0),
    period         text NOT NULL CHECK (period IN ('MONTH', 'QUARTER', 'YEAR', 'GRANT')),
    end_date       date,
    PRIMARY KEY (municipality, grant_id, effective_from, kind)
);

CREATE TABLE mileage_rates (
    municipality text NOT NULL,
    id           text NOT NULL,
    valid_from   date NOT NULL,
    ore_per_km   bigint NOT NULL CHECK (ore_per_km BETWEEN 1 AND 10000),
    source       text NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    UNIQUE (municipality, valid_from)
);

-- A reversal carries the negative distance and amount (the API shows them positive with
-- `reverses` set).
CREATE TABLE expenses (
    municipality      text NOT NULL,
    id                text NOT NULL,
    assignment_id     text NOT NULL,
    grant_id          text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('MILEAGE', 'ACTIVITY', 'INTERPRETER')),
    expense_date      date NOT NULL,
    distance_metres   int NOT NULL,
    amount_ore        bigint NOT NULL CHECK (amount_ore <> 0),
    mileage_rate_id   text,
    note              text NOT NULL,
    reverses          text,
    unit              text NOT NULL,
    contact_person_id text NOT NULL,
    exceeds_allowance boolean NOT NULL,
    -- The allowance as it stood with this expense (NULL limit = none granted).
    allowance_limit_ore bigint,
    allowance_from    date NOT NULL,
    allowance_to      date,
    allowance_used_ore bigint NOT NULL,
    request_id        text NOT NULL,
    registered_by     text NOT NULL,
    create_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    UNIQUE (municipality, request_id),
    UNIQUE (municipality, reverses),
    FOREIGN KEY (municipality, assignment_id) REFERENCES assignments (municipality, id),
    CHECK ((reverses IS NULL) = (amount_ore > 0))
);
CREATE INDEX expenses_by_assignment ON expenses (municipality, assignment_id, create_time, id);
-- What an allowance's period has used: the grant's expenses of a kind by day.
CREATE INDEX expenses_by_grant ON expenses (municipality, grant_id, kind, expense_date);

ALTER TABLE cost_by_month DROP CONSTRAINT cost_by_month_category_check;
ALTER TABLE cost_by_month ADD CONSTRAINT cost_by_month_category_check
    CHECK (category IN ('CONTACT_PERSON_PAY', 'EXTERNAL_PURCHASES', 'EXPENSES'));

-- A provider's person: the provider, for invoice reconciliation (from AssignmentStarted).
ALTER TABLE assignments ADD COLUMN provider_id text;
