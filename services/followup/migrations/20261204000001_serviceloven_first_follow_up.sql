-- Arrangements granted before Barnets Lov (1 January 2024) under Serviceloven § 52, stk. 3,
-- nr. 6 continue (Barnets Lov's transition rules), and a municipality that brings them over
-- from its old system needs their follow-up schedule. Their first follow-up followed
-- Serviceloven § 70, stk. 2 (from Barnets Reform, in force 1 January 2011): at the latest
-- 3 months after the measure started. Each deadline now says which kind of follow-up it sets,
-- so the rule in force on a measure's start is found by kind, not by one row's code.
ALTER TABLE statutory_deadlines ADD COLUMN kind text NOT NULL DEFAULT 'FIRST_FOLLOW_UP'
    CHECK (kind IN ('FIRST_FOLLOW_UP'));

INSERT INTO statutory_deadlines (code, citation, description, months, valid_from, valid_until, kind) VALUES
('sel-70-2-first-follow-up', 'Serviceloven § 70, stk. 2',
 'The first follow-up on a measure under § 52, stk. 3 is held at the latest 3 months after it starts (before Barnets Lov).',
 3, '2011-01-01', '2023-12-31', 'FIRST_FOLLOW_UP');
