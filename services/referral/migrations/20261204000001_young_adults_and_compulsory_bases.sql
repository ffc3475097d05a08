-- The catalogue, round 2 (DOMAIN.md §3; issue 28 items 1 and 2).
--
-- Ages: a child basis covers 0-17. Without an upper age a referral for a 19-year-old could cite
-- Barnets Lov § 32 and pass; from 18 only an ungestøtte basis applies, and a grant on a basis
-- ends no later than the day before the birthday after its oldest age (R-RV-5).
UPDATE legal_bases SET max_age_years = 17 WHERE code IN ('bl-32-1-3', 'sel-52-3-6');

-- Ungestøtte: the Ministry's own summary (sm.dk, "Ungestøtte") names the conditions as
-- Barnets Lov §§ 113-116; § 114 is the one that lets a fixed contact person under § 32, stk. 1,
-- nr. 3 (or lov om bekæmpelse af ungdomskriminalitet § 13, stk. 1, nr. 7) be kept after 18, as
-- Serviceloven § 76, stk. 2 did before 2024. The code stays (records cite it).
UPDATE legal_bases
   SET citation = 'Barnets Lov §§ 113-116',
       title = 'Ungestøtte',
       description = 'Ungestøtte for young people aged 18 to 22 who agree to it: a fixed contact person kept after 18 (§ 114) or granted or re-established until 23. The young person''s own consent; no custody holder.'
 WHERE code = 'bl-113-116';

-- Compulsory bases (R-RV-4): a condition set by a court, the prosecution or
-- Ungdomskriminalitetsnævnet. A referral's compulsory condition must cite one of these; no
-- custody consent is asked for them.
ALTER TABLE legal_bases ADD COLUMN compulsory boolean NOT NULL DEFAULT false;
ALTER TABLE legal_bases DROP CONSTRAINT legal_bases_law_check;
ALTER TABLE legal_bases ADD CONSTRAINT legal_bases_law_check CHECK (law IN (
    'BARNETS_LOV', 'SERVICELOVEN', 'STRAFFELOVEN', 'RETSPLEJELOVEN', 'UNGDOMSKRIMINALITETSLOVEN'));

UPDATE legal_bases
   SET compulsory = true,
       description = 'The arrangement as a compulsory condition of a youth sanction (ungdomssanktion) in a sentence.'
 WHERE code = 'strfl-74a';

INSERT INTO legal_bases (code, law, citation, title, description, valid_from, valid_until, replaced_by, compulsory) VALUES
('rpl-722-723', 'RETSPLEJELOVEN', 'Retsplejeloven §§ 722-723', 'Vilkår for tiltalefrafald',
 'The arrangement as a condition of a withdrawal of charges (tiltalefrafald) by the prosecution.', '1919-10-01', NULL, NULL, true),
('strfl-57', 'STRAFFELOVEN', 'Straffeloven § 57', 'Vilkår i betinget dom',
 'The arrangement as a condition in a sentence (a suspended sentence''s special conditions).', '1933-01-01', NULL, NULL, true),
('ukl-13-1-7', 'UNGDOMSKRIMINALITETSLOVEN', 'Lov om bekæmpelse af ungdomskriminalitet § 13, stk. 1, nr. 7', 'Fast kontaktperson (Ungdomskriminalitetsnævnet)',
 'A fixed contact person decided by Ungdomskriminalitetsnævnet as part of a forløb for a child or young person aged 10-17.', '2019-01-01', NULL, NULL, true);
