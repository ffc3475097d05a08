-- Time entries (R-TC-1): append-only. A correction is a reversing entry with negative minutes
-- and cost here (the API shows its minutes as positive with `reverses` set); nothing is edited
-- or deleted. Cost is kept exact in 1/480 øre (see domain::pricing) and rounded only when shown.
CREATE TABLE time_entries (
    municipality      text NOT NULL,
    id                text NOT NULL,
    assignment_id     text NOT NULL,
    work_date         date NOT NULL,
    minutes           int NOT NULL CHECK (minutes <> 0 AND minutes BETWEEN -1440 AND 1440),
    activity_kind     text NOT NULL REFERENCES activity_kinds (code),
    counts            boolean NOT NULL,
    note              text NOT NULL,
    reverses          text,
    unit              text NOT NULL,
    contact_person_id text NOT NULL,
    cost_units        bigint NOT NULL,
    overrun           boolean NOT NULL,
    request_id        text NOT NULL,
    registered_by     text NOT NULL,
    create_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    UNIQUE (municipality, request_id),
    -- An entry is reversed at most once.
    UNIQUE (municipality, reverses),
    FOREIGN KEY (municipality, assignment_id) REFERENCES assignments (municipality, id),
    CHECK ((reverses IS NULL) = (minutes > 0))
);
CREATE INDEX time_entries_by_assignment ON time_entries (municipality, assignment_id, create_time, id);

-- Minutes per assignment and week (Monday), kept in the entry's transaction, so overrun is
-- known without reading the entries (R-TC-2).
CREATE TABLE week_totals (
    municipality    text NOT NULL,
    assignment_id   text NOT NULL,
    week_start      date NOT NULL,
    counted_minutes int NOT NULL,
    granted_minutes int NOT NULL,
    -- OverrunFlagged was published for this week (once).
    flagged         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (municipality, assignment_id, week_start)
);
CREATE INDEX week_totals_overrun ON week_totals (municipality, week_start DESC)
    WHERE counted_minutes > granted_minutes;
