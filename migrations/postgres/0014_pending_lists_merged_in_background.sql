-- A serving instance merges the trigram indexes' pending lists in the
-- background every 200 ms (`storage::pending_lists`); an insert merges one
-- itself only past this limit, should that fall behind. Against 256 kB
-- merged by inserts (10k users, 16 clients, one server at a time, 4 rounds):
-- POST 5.1k -> 5.4k/s, p99 11.1 -> 10.4 ms, WAL per POST 7.2 -> 5.1 kB.
ALTER INDEX user_values_value_trigram SET (gin_pending_list_limit = 4096);
ALTER INDEX users_user_name_trigram SET (gin_pending_list_limit = 4096);
