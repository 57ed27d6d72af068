-- PATCH /Users/<random seeded id>: PatchOp replace active true/false (random)
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local ids = C.lines("BENCH_IDS")
local base = C.prefix .. "/Users/"
local headers = C.headers({ ["Content-Type"] = "application/scim+json" })
local bodies = {
  [true] = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
           '"Operations":[{"op":"replace","path":"active","value":true}]}',
  [false] = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
            '"Operations":[{"op":"replace","path":"active","value":false}]}',
}
function request()
  return wrk.format("PATCH", base .. C.pick(ids), headers, bodies[math.random() < 0.5])
end
