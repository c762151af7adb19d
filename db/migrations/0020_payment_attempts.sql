-- 0020_payment_attempts.sql: what the payment state machine and the
-- reconciler need on top of 0001's payments table (docs/payments.md).
--
-- attempt_key   the Idempotency-Key of the current confirm attempt; kept so
--               that a retry after an unknown outcome (timeout, 5xx, dropped
--               connection) resends the same key and the gateway replays the
--               first answer instead of approving twice.
-- claim_seq     bumped by every claim (READY -> IN_PROGRESS, a retry of an
--               UNKNOWN payment, a reconciler run); a holder may only write
--               its outcome while the row still carries its claim.
-- lease_until   how long the current claim is trusted. An IN_PROGRESS row
--               past its lease was left by a holder that died (SIGKILL,
--               lost database): the reconciler takes it over.
-- points_granted set in the transaction that writes the ledger row, so the
--               reconciler finds a DONE payment without a grant through a
--               small partial index instead of an anti-join over every
--               payment ever made.
-- reconcile_count how many times the reconciler asked the gateway.
ALTER TABLE payments
    ADD COLUMN attempt_key     text CHECK (attempt_key IS NULL OR char_length(attempt_key) BETWEEN 1 AND 300),
    ADD COLUMN claim_seq       integer     NOT NULL DEFAULT 0,
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN points_granted  boolean     NOT NULL DEFAULT false,
    ADD COLUMN reconcile_count integer     NOT NULL DEFAULT 0;

-- A payment past READY was claimed with a paymentKey; a DONE one was approved.
ALTER TABLE payments
    ADD CONSTRAINT payments_claimed_has_key
        CHECK (status IN ('READY', 'EXPIRED', 'ABORTED') OR payment_key IS NOT NULL),
    ADD CONSTRAINT payments_done_approved
        CHECK (status <> 'DONE' OR approved_at IS NOT NULL);

-- The reconciler's work lists (each tiny compared with the table).
CREATE INDEX payments_ready_requested ON payments (requested_at) WHERE status = 'READY';
CREATE INDEX payments_in_progress_lease ON payments (lease_until) WHERE status = 'IN_PROGRESS';
CREATE INDEX payments_grant_missing ON payments (id) WHERE status = 'DONE' AND NOT points_granted;
