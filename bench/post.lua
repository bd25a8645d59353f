-- bench/post.lua - wrk script for row 6 (POST / + redirect): every request is a form POST that adds
-- a task, with an Origin header equal to the request's own origin (the app refuses cross-origin
-- unsafe methods). wrk does not follow redirects, so each request is exactly one POST answered 303;
-- any other status shows up in wrk's "Non-2xx or 3xx responses" count.
-- env BENCH_ORIGIN: http://127.0.0.1:PORT (bench/run.sh sets it)
local origin = os.getenv("BENCH_ORIGIN") or "http://127.0.0.1"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Origin"] = origin
end

function request()
  n = n + 1
  return wrk.format(nil, "/", nil, "name=bench+" .. tostring(tid) .. "-" .. n)
end
