-- The trigram indexes take new entries into a pending list that the insert
-- which outgrows `gin_pending_list_limit` (4 MB by default) merges into the
-- index: that insert, and every create gathered into its statement, waits
-- tens of milliseconds. At 256 kB each merge is short (10k users, 16
-- clients, one server at a time: POST p99 33-58 ms -> 11-27 ms at the same
-- POSTs a second).
ALTER INDEX user_values_value_trigram SET (gin_pending_list_limit = 256);
ALTER INDEX users_user_name_trigram SET (gin_pending_list_limit = 256);
