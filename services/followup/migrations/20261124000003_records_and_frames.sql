-- Follow-up records (R-FU-2, R-FU-3) and the yearly frame evaluations (R-FU-5).

-- Whether the grant's policy wants the coordinator at every follow-up (R-FU-3; Ishøj).
ALTER TABLE schedules ADD COLUMN coordinator_required boolean NOT NULL DEFAULT false;

-- What was recorded when a follow-up was held: the encoded kontakt.followup.v1.FollowUp with
-- its input fields only (participants, goal assessments, outcome, dates, summary, level,
-- justification), compared byte for byte to tell a retry from a different record.
ALTER TABLE follow_ups
    ADD COLUMN outcome        text CHECK (outcome IN ('CONTINUE', 'ADJUST', 'END', 'END_REVISE')),
    ADD COLUMN completed_date date,
    ADD COLUMN completed_by   text,
    ADD COLUMN record         bytea,
    ADD CONSTRAINT follow_ups_completed_has_record
        CHECK ((state = 'COMPLETED') = (outcome IS NOT NULL AND completed_date IS NOT NULL
                                        AND record IS NOT NULL));

-- Budget frames as the time & cost service announces them (FrameCreated).
CREATE TABLE frames (
    id              text PRIMARY KEY,
    display_name    text NOT NULL,
    municipalities  text[] NOT NULL,
    period_start    date NOT NULL,
    period_end      date,
    -- The first year evaluated: the year the frame became known, or the next one when that
    -- year's evaluation was already past due.
    first_year      int NOT NULL,
    create_time     timestamptz NOT NULL DEFAULT now()
);

-- When the yearly evaluation is due and how long before FrameEvaluationDue is pushed (R-FU-5:
-- before December, when the result goes to the committee). One row; data, not code.
CREATE TABLE frame_evaluation_settings (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    due_month   int NOT NULL CHECK (due_month BETWEEN 1 AND 12),
    due_day     int NOT NULL CHECK (due_day BETWEEN 1 AND 28 OR (due_day BETWEEN 29 AND 31)),
    lead_days   int NOT NULL CHECK (lead_days BETWEEN 0 AND 180),
    committee   text NOT NULL
);
INSERT INTO frame_evaluation_settings (due_month, due_day, lead_days, committee)
VALUES (11, 30, 30, 'Børne- og Undervisningsudvalget');

CREATE TABLE frame_evaluations (
    frame_id           text NOT NULL REFERENCES frames (id),
    year               int NOT NULL,
    due_date           date NOT NULL,
    state              text NOT NULL CHECK (state IN ('SCHEDULED', 'COMPLETED')),
    committee          text NOT NULL,
    summary            text NOT NULL DEFAULT '',
    completed_date     date,
    completed_by       text NOT NULL DEFAULT '',
    due_published      boolean NOT NULL DEFAULT false,
    overdue_published  boolean NOT NULL DEFAULT false,
    revision           bigint NOT NULL DEFAULT 1,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (frame_id, year)
);
CREATE INDEX frame_evaluations_open ON frame_evaluations (due_date) WHERE state = 'SCHEDULED';

-- Settings carry a revision for their etag.
ALTER TABLE follow_up_settings ADD COLUMN revision bigint NOT NULL DEFAULT 1;
