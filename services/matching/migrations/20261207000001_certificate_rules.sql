-- R-MP-6 per grant: whether the law (a child under 15 at the start, or a family) or the
-- municipality's policy (every age) asks a child-protection certificate of the contact
-- person, and how often the policy renews one (0 = only the certificate's own expiry counts).
-- Set from GrantApproved; a request opened before this knew no better than "required".
ALTER TABLE matching_requests
    ADD COLUMN certificate_required       boolean NOT NULL DEFAULT true,
    ADD COLUMN certificate_renewal_months int NOT NULL DEFAULT 0
        CHECK (certificate_renewal_months BETWEEN 0 AND 60);
