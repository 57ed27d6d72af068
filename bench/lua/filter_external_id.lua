-- GET /Users?filter=externalId eq "<random seeded externalId>"
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local ids = C.lines("BENCH_EXTIDS")
local base = C.prefix .. "/Users?filter="
function request()
  return C.get(base .. C.urlencode('externalId eq "' .. C.pick(ids) .. '"'))
end
