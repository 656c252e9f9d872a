-- GET /healthz: the ceiling (routing, middleware, HTTP; no storage, no crypto).
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require("common")
done = common.done("healthz")
