-- Finished webhook deliveries, idempotency records and the sealed search
-- log are pruned by age (issue 13.14), a bounded batch per transaction.
-- Each batch finds its rows through one of these instead of scanning the
-- table, so a batch costs the same however large the backlog is. The
-- search log is pruned per tenant (its cut-off follows the tenant's
-- retention policy), hence the tenant first.
CREATE INDEX webhook_outbox_by_age ON webhook_outbox (state, created_at);
CREATE INDEX idempotency_by_age ON idempotency (created_at);
CREATE INDEX search_log_by_age ON search_log (tenant_id, at_micros);
