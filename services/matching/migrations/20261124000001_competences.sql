-- The competence catalogue that contact persons are described by and grants' needs are matched
-- against (R-MP-3). Data, not code: a municipality adds its own languages and areas.
CREATE TABLE competences (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z0-9-]{1,63}$'),
    category     text NOT NULL CHECK (category IN ('PROBLEM_AREA', 'LANGUAGE', 'CULTURAL_BACKGROUND', 'AGE_GROUP', 'METHOD')),
    display_name text NOT NULL,
    description  text NOT NULL DEFAULT ''
);

INSERT INTO competences (code, category, display_name, description) VALUES
('psychological-difficulties', 'PROBLEM_AREA', 'Psykiske vanskeligheder', 'Children and young people with psychological difficulties.'),
('psychiatry', 'PROBLEM_AREA', 'Psykiatri', 'Young people with psychiatric conditions.'),
('disability', 'PROBLEM_AREA', 'Funktionsnedsættelse', 'Children and young people with disabilities.'),
('substance-abuse', 'PROBLEM_AREA', 'Misbrug', 'Heavy use of drugs or alcohol.'),
('crime-prevention', 'PROBLEM_AREA', 'Kriminalitetsforebyggelse', 'Children and young people at risk of crime.'),
('family-work', 'METHOD', 'Familiearbejde', 'Contact person for the whole family.'),
('school-support', 'METHOD', 'Skolestøtte', 'Keeping the young person in school and through the leaving exams.'),
('language-arabic', 'LANGUAGE', 'Arabisk', ''),
('language-english', 'LANGUAGE', 'Engelsk', ''),
('language-persian', 'LANGUAGE', 'Persisk', ''),
('language-somali', 'LANGUAGE', 'Somali', ''),
('language-turkish', 'LANGUAGE', 'Tyrkisk', ''),
('language-urdu', 'LANGUAGE', 'Urdu', ''),
('cultural-background-middle-east', 'CULTURAL_BACKGROUND', 'Mellemøstlig baggrund', 'Knows the family''s cultural background first hand.'),
('cultural-background-south-asia', 'CULTURAL_BACKGROUND', 'Sydasiatisk baggrund', 'Knows the family''s cultural background first hand.'),
('cultural-background-east-africa', 'CULTURAL_BACKGROUND', 'Østafrikansk baggrund', 'Knows the family''s cultural background first hand.'),
('age-6-11', 'AGE_GROUP', '6-11 år', ''),
('age-12-14', 'AGE_GROUP', '12-14 år', ''),
('age-15-17', 'AGE_GROUP', '15-17 år', ''),
('age-18-22', 'AGE_GROUP', '18-22 år (ungestøtte)', '');
