-- GET /Users?filter=title sw "<a title's first word>"&count=100
-- (matches a few percent of the users: counts totalResults, returns a page of 100)
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local titles = C.lines("BENCH_TITLES")
local base = C.prefix .. "/Users?count=100&filter="
function request()
  return C.get(base .. C.urlencode('title sw "' .. C.pick(titles) .. '"'))
end
