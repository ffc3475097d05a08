-- The KLE classification a case is filed under (KL's emnesystematik, DOMAIN.md §3): data with a
-- validity period, not a constant in code, so a change in KLE is a new row.
CREATE TABLE kle_numbers (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{2}\.[0-9]{2}\.[0-9]{2}$'),
    title       text NOT NULL,
    valid_from  date NOT NULL,
    valid_until date CHECK (valid_until IS NULL OR valid_until >= valid_from)
);

INSERT INTO kle_numbers (code, title, valid_from) VALUES
('27.27.24', 'Kontaktperson for barnet eller den unge', '1998-07-01'),
('27.27.21', 'Kontaktperson for hele familien', '1998-07-01');
