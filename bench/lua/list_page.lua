-- GET /Users?startIndex=<random>&count=100 (BENCH_SORT=1 adds sortBy=userName)
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local sort = os.getenv("BENCH_SORT") == "1" and "sortBy=userName&" or ""
local base = C.prefix .. "/Users?" .. sort .. "startIndex="
local last = math.max(1, C.n - 99)
function request()
  return C.get(base .. math.random(1, last) .. "&count=100")
end
