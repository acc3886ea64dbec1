-- wrk script of the soak (e2e/bench/soak.sh): one kind of request, given by
-- the environment, and the count of answers whose status is not the
-- expected one. SOAK_METHOD (GET or POST), SOAK_BODY (a file; none for
-- GET), SOAK_EXPECT (the status every answer must have).
wrk.method = os.getenv("SOAK_METHOD") or "GET"
local file = os.getenv("SOAK_BODY")
if file and file ~= "" then
  local f = assert(io.open(file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end
local expect = tonumber(os.getenv("SOAK_EXPECT") or "200")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  seen = 0
  unexpected = 0
end

function response(status, headers, body)
  seen = seen + 1
  if status ~= expect then
    unexpected = unexpected + 1
    if unexpected <= 3 then
      io.stderr:write(string.format("unexpected %d (want %d): %s\n", status, expect, (body or ""):sub(1, 200)))
    end
  end
end

function done(summary, latency, requests)
  local s, u = 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("seen")
    u = u + t:get("unexpected")
  end
  io.write(string.format("SOAK seen=%d unexpected=%d errors=%d\n", s, u,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
