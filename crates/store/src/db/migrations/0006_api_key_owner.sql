-- API keys may name the person they act for (issue 13.12): two-person
-- actions (a legal hold's release) compare people, not keys, so two keys of
-- one user are still one person. Keys made before this have no owner and
-- cannot take part in a two-person action.
ALTER TABLE api_keys ADD COLUMN user_id TEXT;
