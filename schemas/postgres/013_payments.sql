-- Payments (issue 15): payment_transactions gains what the ledger needs (captured, fee, the
-- provider's intent id, the capture flag, the folded state and the event history), and the
-- refunds get a read model of their own. Both are written only by projections/paymentTransactions.ts.
ALTER TABLE payment_transactions
  ADD COLUMN IF NOT EXISTS captured_minor     bigint  NOT NULL DEFAULT 0 CHECK (captured_minor >= 0),
  ADD COLUMN IF NOT EXISTS reserved_minor     bigint  NOT NULL DEFAULT 0 CHECK (reserved_minor >= 0),
  ADD COLUMN IF NOT EXISTS fee_minor          bigint,
  ADD COLUMN IF NOT EXISTS provider_intent_id text,
  ADD COLUMN IF NOT EXISTS capture            boolean NOT NULL DEFAULT true,
  ADD COLUMN IF NOT EXISTS customer_email     text,
  ADD COLUMN IF NOT EXISTS customer_phone     text,
  ADD COLUMN IF NOT EXISTS last_source        text,
  ADD COLUMN IF NOT EXISTS state              jsonb   NOT NULL DEFAULT '{}',
  ADD COLUMN IF NOT EXISTS history            jsonb   NOT NULL DEFAULT '[]';
-- Refunds can never exceed what was captured (the handler's reservation keeps it so; this says it twice).
ALTER TABLE payment_transactions DROP CONSTRAINT IF EXISTS payment_transactions_refund_le_captured;
ALTER TABLE payment_transactions ADD CONSTRAINT payment_transactions_refund_le_captured
  CHECK (refunded_minor <= greatest(captured_minor, amount_minor));
-- The list API pages by (created_at, id).
CREATE INDEX IF NOT EXISTS payment_transactions_created ON payment_transactions (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payment_transactions_order_created ON payment_transactions (order_id, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS payment_refunds (
  id                 text PRIMARY KEY,
  payment_id         uuid        NOT NULL,
  provider           text,
  provider_refund_id text,
  amount_minor       bigint      NOT NULL CHECK (amount_minor >= 0),
  currency           char(3)     NOT NULL,
  status             text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  reason             text,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  last_seq           bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_refunds_payment ON payment_refunds (payment_id, created_at);
