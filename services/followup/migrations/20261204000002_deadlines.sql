-- Statutory deadlines besides the follow-ups (followup.v1.Deadline), made from the grant events:
-- deciding on ungestøtte before a child basis ends the day before the 18th birthday (R-RV-5),
-- finishing a børnefaglig undersøgelse support started beside (BL § 20 stk. 3), making the
-- child's plan (BL § 91).
-- due_published records that DeadlineDue went out (once), in the scheduler's transaction.
CREATE TABLE deadlines (
    municipality    text NOT NULL,
    id              text NOT NULL,
    grant_id        text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('UNGESTOETTE_DECISION', 'CHILD_ASSESSMENT', 'CHILDS_PLAN')),
    deadline_date   date NOT NULL,
    due_date        date NOT NULL CHECK (due_date <= deadline_date),
    counsellor      text NOT NULL,
    state           text NOT NULL CHECK (state IN ('OPEN', 'COMPLETED', 'CANCELLED')),
    note            text CHECK (note IS NULL OR length(note) BETWEEN 1 AND 4000),
    completed_by    text,
    complete_time   timestamptz,
    due_published   boolean NOT NULL DEFAULT false,
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (municipality, id),
    -- One of each kind per grant: a replayed approval makes no second one.
    UNIQUE (municipality, grant_id, kind),
    FOREIGN KEY (municipality, grant_id) REFERENCES schedules (municipality, grant_id),
    CHECK ((state = 'COMPLETED') = (note IS NOT NULL AND completed_by IS NOT NULL AND complete_time IS NOT NULL))
);
CREATE INDEX deadlines_open_by_due ON deadlines (due_date) WHERE state = 'OPEN';
CREATE INDEX deadlines_by_municipality ON deadlines (municipality, deadline_date, id);
