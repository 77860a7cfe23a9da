-- The fake's virtual clock. Virtual time starts at the real time (or where a
-- saved state left it) and runs `speed` times as fast as the real clock;
-- speed 0 freezes it, so only explicit steps move it (what deterministic
-- specs want). Everything the services do is timed on it: lifecycles, the
-- timestamps they answer, log events, credential expiry. SigV4's clock-skew
-- check is not: clients sign with their real clock.
--
--   local c = clock.new{ speed = 1, now = epoch_seconds, real = fn }
--   c:now()           virtual epoch seconds (float)
--   c:advance(s)      step forward s virtual seconds (s >= 0)
--   c:set_speed(x)    from now on, x virtual seconds per real second
--   c:snapshot()      { now =, speed = } (for the control endpoint and --state)
local task = require("smop.task")

local M = {}
local Clock = {}
Clock.__index = Clock

function M.new(opts)
  opts = opts or {}
  local real = opts.real or task.time
  local r = real()
  return setmetatable({
    real = real,
    base_real = r,
    base_virtual = opts.now or r,
    speed = opts.speed or 1,
  }, Clock)
end

function Clock:now()
  return self.base_virtual + (self.real() - self.base_real) * self.speed
end

-- Restarts the linear segment at the current instant.
function Clock:rebase()
  local v = self:now()
  self.base_real = self.real()
  self.base_virtual = v
end

function Clock:advance(seconds)
  assert(type(seconds) == "number" and seconds >= 0, "clock:advance needs seconds >= 0")
  self:rebase()
  self.base_virtual = self.base_virtual + seconds
end

function Clock:set_speed(speed)
  assert(type(speed) == "number" and speed >= 0, "clock:set_speed needs speed >= 0")
  self:rebase()
  self.speed = speed
end

function Clock:snapshot()
  return { now = self:now(), speed = self.speed }
end

return M
