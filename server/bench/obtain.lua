-- POST /v1/leases/obtain against a license with unlimited seats (lease.key). The leases
-- are not released: each holds its seat until it expires.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
local key = common.lines("lease.key")[1]
wrk.method = "POST"
wrk.path = "/v1/leases/obtain"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"license_key":"' .. key .. '","client_id":"bench"}'
done = common.done("obtain")
