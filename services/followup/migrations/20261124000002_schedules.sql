-- Follow-up schedules (R-FU-1) made from the referral service's grant events, and the
-- follow-ups themselves (R-FU-2..4). A follow-up's DUE and OVERDUE standing follows from its
-- date; the *_published columns record that FollowUpDue / FollowUpOverdue went out (once per
-- follow-up), in the scheduler's transaction with the outbox row.

CREATE TABLE schedules (
    municipality          text NOT NULL,
    grant_id              text NOT NULL,
    person                text NOT NULL,
    counsellor            text NOT NULL,
    start_date            date NOT NULL,
    expected_end_date     date,
    -- The policy's interval at approval; 0 = none stated (the counsellor sets each next date).
    interval_months       int NOT NULL CHECK (interval_months >= 0),
    statutory_months      int NOT NULL CHECK (statutory_months > 0),
    state                 text NOT NULL CHECK (state IN ('ACTIVE', 'ENDED')),
    end_date              date,
    revision              bigint NOT NULL DEFAULT 1,
    create_time           timestamptz NOT NULL DEFAULT now(),
    update_time           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, grant_id)
);

CREATE TABLE follow_ups (
    municipality        text NOT NULL,
    id                  text NOT NULL,
    grant_id            text NOT NULL,
    due_date            date NOT NULL,
    state               text NOT NULL CHECK (state IN ('SCHEDULED', 'COMPLETED', 'CANCELLED')),
    counsellor          text NOT NULL,
    due_published       boolean NOT NULL DEFAULT false,
    overdue_published   boolean NOT NULL DEFAULT false,
    revision            bigint NOT NULL DEFAULT 1,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    FOREIGN KEY (municipality, grant_id) REFERENCES schedules (municipality, grant_id)
);
-- One open follow-up per grant at a time.
CREATE UNIQUE INDEX follow_ups_one_open ON follow_ups (municipality, grant_id)
    WHERE state = 'SCHEDULED';
-- What the scheduler and the due lists read: open follow-ups by date.
CREATE INDEX follow_ups_open_by_due ON follow_ups (due_date) WHERE state = 'SCHEDULED';
CREATE INDEX follow_ups_by_counsellor ON follow_ups (municipality, counsellor, due_date)
    WHERE state = 'SCHEDULED';

-- Per municipality: how many days before the due date FollowUpDue is pushed (R-FU-4). A
-- municipality without a row gets the default row's ('*').
CREATE TABLE follow_up_settings (
    municipality   text PRIMARY KEY,
    due_lead_days  int NOT NULL CHECK (due_lead_days BETWEEN 0 AND 90)
);
INSERT INTO follow_up_settings (municipality, due_lead_days) VALUES ('*', 14);

-- The reminder lead time in force for a municipality (its row, else the default row).
CREATE FUNCTION due_lead_days(m text) RETURNS int LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT due_lead_days FROM follow_up_settings WHERE municipality = m),
                    (SELECT due_lead_days FROM follow_up_settings WHERE municipality = '*'), 14)
$$;
