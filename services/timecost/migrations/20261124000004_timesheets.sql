-- Timesheets (R-TC-4): a contact person's period, submitted and approved by the coordinator;
-- approved entries are final. A person's periods never overlap, so each entry belongs to at
-- most one timesheet (found by person and work date).
CREATE TABLE timesheets (
    unit          text NOT NULL,
    person_id     text NOT NULL,
    id            text NOT NULL,
    period_start  date NOT NULL,
    period_end    date NOT NULL CHECK (period_end >= period_start),
    state         text NOT NULL CHECK (state IN ('OPEN', 'SUBMITTED', 'APPROVED')),
    submit_time   timestamptz,
    approver      text NOT NULL DEFAULT '',
    approve_time  timestamptz,
    revision      bigint NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, person_id, id)
);
CREATE INDEX timesheets_by_period ON timesheets (unit, person_id, period_start);
CREATE INDEX time_entries_by_person_day ON time_entries (unit, contact_person_id, work_date);
