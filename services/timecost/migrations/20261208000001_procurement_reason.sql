-- Why a provider's person was bought (R-MP-2), from AssignmentStarted, so the yearly evaluation
-- reports purchases by provider and reason (R-FU-5). Empty for own people, and for provider
-- assignments that began before the reason was passed on (reported as UNKNOWN).
ALTER TABLE assignments ADD COLUMN procurement_reason text NOT NULL DEFAULT '';
