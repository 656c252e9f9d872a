-- POST /v1/activate: a new machine on every request, with a random 256-bit fingerprint (as
-- real fingerprints, which are hashes, are), against a license with unlimited machines
-- (activate.key). The request is put together from a prefix formatted once.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local key = common.lines("activate.key")[1]
local head, tail
local random, format = math.random, string.format

setup = common.setup
function init(args)
  -- LICET_BENCH_SEED: load.sh numbers the load generators it runs at once (one per server
  -- process), so that two started in the same second draw different fingerprints.
  local generator = tonumber(os.getenv("LICET_BENCH_SEED")) or 0
  math.randomseed(os.time() * 64 + (thread_id or 0) + generator * 1000003)
  local body = '{"license_key":"' .. key .. '","fingerprint":"' .. string.rep("0", 64) .. '"}'
  local whole = wrk.format("POST", "/v1/activate", { ["Content-Type"] = "application/json" }, body)
  -- Everything up to the fingerprint, and what follows it (the length does not change).
  local at = #whole - 64 - 2
  head, tail = whole:sub(1, at), whole:sub(at + 65)
end
function request()
  local n = 65535
  return head .. format("%04x%04x%04x%04x%04x%04x%04x%04x%04x%04x%04x%04x%04x%04x%04x%04x",
    random(0, n), random(0, n), random(0, n), random(0, n), random(0, n), random(0, n),
    random(0, n), random(0, n), random(0, n), random(0, n), random(0, n), random(0, n),
    random(0, n), random(0, n), random(0, n), random(0, n)) .. tail
end
done = common.done("activate")
