-- Shared by the wrk scripts of load.sh: reads key files and prints one result line.
--
-- LICET_BENCH_KEYS names the directory the seeder wrote its key files to.

local M = {}

function M.lines(name)
  local dir = os.getenv("LICET_BENCH_KEYS") or "."
  local out = {}
  for line in io.lines(dir .. "/" .. name) do
    if #line > 0 then out[#out + 1] = line end
  end
  assert(#out > 0, name .. " is empty")
  return out
end

-- The line load.sh reads: RESULT <name> <requests/s> <p50 ms> <p99 ms> <errors> <requests>.
-- Errors are every socket error, timeout and answer that was not 2xx/3xx.
function M.done(name)
  return function(summary, latency, requests)
    local e = summary.errors
    local errors = e.connect + e.read + e.write + e.status + e.timeout
    io.write(string.format("RESULT %s %.1f %.3f %.3f %d %d\n", name,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      errors, summary.requests))
  end
end

-- Gives each wrk thread its own number, so that their random streams differ.
local next_id = 0
function M.setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

return M
