-- GET /Users?filter=userName eq "<random seeded userName>"
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local users = C.lines("BENCH_USERS")
local base = C.prefix .. "/Users?filter="
function request()
  return C.get(base .. C.urlencode('userName eq "' .. C.pick(users) .. '"'))
end
