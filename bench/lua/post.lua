-- POST /Users with a new, unique userName each time (same shape as the seed users)
local C = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local path = C.prefix .. "/Users"
local headers = C.headers({ ["Content-Type"] = "application/scim+json" })
local n = 0
local tag = C.runid
function request()
  n = n + 1
  local user = "post." .. tag .. "." .. n .. "@contoso.example"
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],' ..
    '"userName":"' .. user .. '","externalId":"post-' .. tag .. '-' .. n .. '",' ..
    '"name":{"givenName":"Bench","familyName":"Post' .. n .. '"},' ..
    '"emails":[{"type":"work","value":"' .. user .. '","primary":true}],' ..
    '"title":"Software Engineer","active":true}'
  return wrk.format("POST", path, headers, body)
end
