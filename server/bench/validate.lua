-- POST /v1/validate with a license key drawn at random, per request, from validate.keys
-- (up to 1,000 keys spread over all the seeded licenses). The requests are formatted once,
-- in init: formatting one per request would cost wrk more than the server's routing does.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local keys = common.lines("validate.keys")
local requests = {}

setup = common.setup
function init(args)
  math.randomseed(os.time() * 64 + (thread_id or 0))
  local headers = { ["Content-Type"] = "application/json" }
  for i, k in ipairs(keys) do
    requests[i] = wrk.format("POST", "/v1/validate", headers, '{"license_key":"' .. k .. '"}')
  end
end
function request()
  return requests[math.random(#requests)]
end
done = common.done("validate")
