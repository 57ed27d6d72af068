-- GET /healthz: the ceiling of our HTTP stack (one database ping per request).
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local req = C.get("/healthz")
function request() return req end
