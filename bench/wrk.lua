-- wrk's side of bench/load.mjs: the scenario's method, headers and body, or one
-- body per request from a file (a code or refresh token each, used once).
-- Arguments: METHOD BODY_FILE (or "-") AMOUNT [HEADER VALUE]…; the body of a fixed
-- request comes in the environment (WRK_BODY), where no quoting can bend it.
--
-- With a body file the run ends when every body has its answer: this script
-- prints "DONE <answers> <seconds> <non-2xx>" (timed by the monotonic clock,
-- from the first request to the last answer) and bench/load.mjs stops wrk with
-- SIGINT, which makes it print its latency summary at once.
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *ts);
]])
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local bodies = nil
local calls, handed, answered, non2xx = 0, 0, 0, 0
local started = nil

function init(args)
  wrk.method = args[1]
  for i = 4, #args - 1, 2 do
    wrk.headers[args[i]] = args[i + 1]
  end
  if args[2] ~= "-" then
    bodies = {}
    for line in io.lines(args[2]) do
      if #line > 0 and #bodies < tonumber(args[3]) then bodies[#bodies + 1] = line end
    end
  else
    wrk.body = os.getenv("WRK_BODY")
    -- A fixed request: wrk sends it as it is and reads no answer into Lua (its cheapest mode).
    request = nil
    response = nil
  end
end

function request()
  calls = calls + 1
  if not bodies then return wrk.format() end
  -- wrk calls request() once before the run to check it (script_verify_request): that call is not sent.
  if calls == 1 then return wrk.format(nil, nil, nil, bodies[1]) end
  if handed == #bodies then return "" end -- nothing left to send: the connection waits for the end
  handed = handed + 1
  started = started or now()
  return wrk.format(nil, nil, nil, bodies[handed])
end

function response(status)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if not bodies then return end
  answered = answered + 1
  if answered == #bodies then
    io.write(string.format("DONE %d %.6f %d\n", answered, now() - started, non2xx))
    io.flush()
  end
end
