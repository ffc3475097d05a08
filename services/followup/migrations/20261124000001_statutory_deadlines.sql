-- Deadlines the law sets for follow-up (R-FU-1), as data with a validity period so a change in
-- the law is a new row, not a code change. Municipal policy intervals arrive with each grant
-- (from the referral service's events); the stricter of law and policy wins.
CREATE TABLE statutory_deadlines (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z0-9-]{1,63}$'),
    citation    text NOT NULL,
    description text NOT NULL,
    -- Months after the measure starts by which the follow-up must be held.
    months      integer NOT NULL CHECK (months > 0),
    valid_from  date NOT NULL,
    valid_until date CHECK (valid_until IS NULL OR valid_until >= valid_from)
);

INSERT INTO statutory_deadlines (code, citation, description, months, valid_from) VALUES
('bl-95-first-follow-up', 'Barnets Lov § 95',
 'The first follow-up is held at the latest 3 months after the measure starts.', 3, '2024-01-01');
