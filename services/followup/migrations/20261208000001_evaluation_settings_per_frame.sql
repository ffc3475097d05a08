-- Each frame has its own evaluation settings (R-FU-5): the day its yearly evaluation is due, how
-- long ahead FrameEvaluationDue goes out, and the committee it goes to. A frame learnt of gets
-- the installation's default (the one row of frame_evaluation_settings, which stays for that);
-- UpdateFrameEvaluationSettings changes one frame's.
ALTER TABLE frames
    ADD COLUMN due_month int,
    ADD COLUMN due_day int,
    ADD COLUMN lead_days int,
    ADD COLUMN committee text,
    ADD COLUMN settings_revision bigint NOT NULL DEFAULT 1;
UPDATE frames SET due_month = s.due_month, due_day = s.due_day, lead_days = s.lead_days,
                  committee = s.committee
  FROM frame_evaluation_settings s;
ALTER TABLE frames
    ALTER COLUMN due_month SET NOT NULL,
    ALTER COLUMN due_day SET NOT NULL,
    ALTER COLUMN lead_days SET NOT NULL,
    ALTER COLUMN committee SET NOT NULL,
    ADD CONSTRAINT frames_due_month CHECK (due_month BETWEEN 1 AND 12),
    ADD CONSTRAINT frames_due_day CHECK (due_day BETWEEN 1 AND 31),
    ADD CONSTRAINT frames_lead_days CHECK (lead_days BETWEEN 0 AND 180);
