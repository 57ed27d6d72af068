-- GET /Users/<random seeded id>
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local ids = C.lines("BENCH_IDS")
local base = C.prefix .. "/Users/"
function request()
  return C.get(base .. C.pick(ids))
end
