-- POST /v1/validate with a new made-up license key each request: a key-guessing flood, as
-- one source address sends it. Used by flood.sh.
local counter = 0
function request()
  counter = counter + 1
  local body = '{"license_key":"LICET-GUESS-' .. counter .. '-' .. math.random(1e9) .. '"}'
  return wrk.format("POST", "/v1/validate", { ["Content-Type"] = "application/json" }, body)
end
