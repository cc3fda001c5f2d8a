-- Execution leases: the process executing a proposal owns it until lease_until (unix ms) and
-- renews it while it runs, so a starting replica only recovers proposals whose owner is gone.
ALTER TABLE proposals ADD COLUMN lease_owner TEXT;
ALTER TABLE proposals ADD COLUMN lease_until INTEGER;

-- The integration that relayed a request for a user (an HTTP client acting for users).
ALTER TABLE audit ADD COLUMN via TEXT;

-- Retention prunes by age.
CREATE INDEX audit_by_time ON audit (at);
CREATE INDEX turns_by_time ON turns (at);
