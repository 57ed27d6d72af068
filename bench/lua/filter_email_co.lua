-- GET /Users?filter=emails[type eq "work" and value co ".<i>@"] (a substring
-- of one seeded user's work email, so one match). PostgreSQL serves "co"
-- from a trigram index; SQLite scans the company's email values.
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local users = C.lines("BENCH_USERS")
local base = C.prefix .. "/Users?filter="
function request()
  local u = C.pick(users)
  local frag = u:match("(%.%d+@)") or u
  return C.get(base .. C.urlencode('emails[type eq "work" and value co "' .. frag .. '"]'))
end
