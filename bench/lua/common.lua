-- Shared by every phase script. wrk loads a script once in its main Lua state
-- (where done() runs) and once per thread (where request() runs); the harness
-- always uses one thread (-t1), so one random stream drives the whole phase.
-- Parameters come from the environment, set by bench/run:
--   BENCH_TOKEN   bearer token             BENCH_PREFIX  "/scim/v2" (ours) or "/v2" (peer)
--   BENCH_SEED    random seed              BENCH_N       users seeded (for list offsets)
--   BENCH_USERS   file: one seeded userName a line
--   BENCH_IDS     file: one seeded id a line
--   BENCH_EXTIDS  file: one seeded externalId a line
--   BENCH_TITLES  file: one title prefix a line
--   BENCH_RUNID   unique tag for the userNames that POST creates
--   BENCH_PHASE   phase name, echoed in the result line

local M = {}

M.prefix = os.getenv("BENCH_PREFIX") or "/scim/v2"
M.n = tonumber(os.getenv("BENCH_N") or "10000")
M.runid = os.getenv("BENCH_RUNID") or tostring(os.time())
M.phase = os.getenv("BENCH_PHASE") or "?"

math.randomseed(tonumber(os.getenv("BENCH_SEED") or "42"))

local token = os.getenv("BENCH_TOKEN")
if token and #token > 0 then
  wrk.headers["Authorization"] = "Bearer " .. token
end
wrk.headers["Accept"] = "application/scim+json"

function M.urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function M.lines(var)
  local path = os.getenv(var)
  if not path or #path == 0 then
    error("environment variable " .. var .. " is not set")
  end
  local t = {}
  for l in io.lines(path) do
    if #l > 0 then t[#t + 1] = l end
  end
  if #t == 0 then error(path .. " is empty") end
  return t
end

function M.pick(t)
  return t[math.random(#t)]
end

-- wrk.format() uses the headers it is given instead of wrk.headers, so a request
-- with its own headers (a body's Content-Type) must carry the common ones too.
function M.headers(extra)
  local h = {}
  for k, v in pairs(wrk.headers) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function M.get(path)
  return wrk.format("GET", path)
end

function M.json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

-- Machine-readable result: one line, prefixed so the harness can find it.
function done(summary, latency, requests)
  local e = summary.errors
  local function p(q) return latency:percentile(q) end
  io.write(string.format(
    'BENCH_RESULT {"phase":%s,"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"req_per_s":%.3f,"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"http_4xx_5xx":%d}}\n',
    M.json_string(M.phase), summary.requests, summary.duration, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency.mean, latency.stdev, latency.min, p(50), p(90), p(99), p(99.9), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end

return M
