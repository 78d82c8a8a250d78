-- Sending domains (issue 13.9): each tenant sends only from domains it
-- owns. A domain is added `pending` with a verification token, then becomes
-- `verified` (the TXT record was found) or `asserted` (the operator vouched
-- for it). Any number of tenants may have it pending; only one may own it.
CREATE TABLE sending_domains (tenant_id TEXT NOT NULL, domain TEXT NOT NULL, state TEXT NOT NULL, token TEXT NOT NULL, created_at BIGINT NOT NULL, verified_at BIGINT, PRIMARY KEY (tenant_id, domain));
CREATE UNIQUE INDEX sending_domains_owner ON sending_domains (domain) WHERE state <> 'pending';
