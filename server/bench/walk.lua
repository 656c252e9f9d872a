-- POST /v1/validate with each key of walk.keys in turn, over and over (run with -t1, so
-- that one walk covers every key). Used by memory.sh: the distinct keys asked about are
-- exactly the file's.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local keys = common.lines("walk.keys")
local i = 0
function request()
  i = i + 1
  local k = keys[((i - 1) % #keys) + 1]
  return wrk.format("POST", "/v1/validate", { ["Content-Type"] = "application/json" }, '{"license_key":"' .. k .. '"}')
end
