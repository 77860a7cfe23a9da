-- Leader election on a coordination.k8s.io/v1 Lease, the way client-go's
-- leaderelection package does it, so replicas of smop (and tools that read
-- Leases) agree on who leads.
--
--   local leader = require("operator.leader")
--   local el = leader.new{ kube = client, namespace = "ns", name = "lease-name",
--     identity = "pod-name_uuid",
--     lease_duration = 15, renew_deadline = 10, retry_period = 2 }
--   el:start{ on_started = function() ... end,   -- we lead: start working
--             on_lost = function(why) ... end }  -- we no longer lead: stop at once
--   el:is_leader()   el:holder()   el:stop()     -- stop releases a held lease
--
-- Expiry is judged on our own monotonic clock, never on the timestamps in
-- the Lease: a record counts as expired lease_duration seconds after we
-- last saw it change, so clocks that disagree between nodes do no harm.
-- The leader renews every retry_period; when no renewal has succeeded for
-- renew_deadline seconds it gives up (on_lost) before any other replica may
-- take over (lease_duration > renew_deadline). Writes are PUTs carrying the
-- resourceVersion read, so two candidates cannot both win one transition.
-- Releasing writes an empty holder with a 1 s duration, so a standby takes
-- over within a retry_period instead of a whole lease_duration.
local log = require("smop.log")
local task = require("smop.task")

local M = {}
local Elector = {}
Elector.__index = Elector

M.LEASE_DURATION, M.RENEW_DEADLINE, M.RETRY_PERIOD = 15, 10, 2
M.LEASE_NAME = "smop.sagemaker.aws.amazon.com"   -- the default Lease

-- MicroTime, as the API server writes it: 2026-11-23T15:45:32.123456Z
function M.micro_time(t)
  local s = math.floor(t)
  local us = math.min(999999, math.floor((t - s) * 1e6 + 0.5))
  return os.date("!%Y-%m-%dT%H:%M:%S", s) .. string.format(".%06dZ", us)
end

function M.new(opts)
  local self = setmetatable({
    kube = opts.kube,
    namespace = opts.namespace,
    name = opts.name,
    identity = opts.identity,
    lease_duration = opts.lease_duration or M.LEASE_DURATION,
    renew_deadline = opts.renew_deadline or M.RENEW_DEADLINE,
    retry_period = opts.retry_period or M.RETRY_PERIOD,
    wake = task.condition(),
  }, Elector)
  assert(self.lease_duration > self.renew_deadline and self.renew_deadline > self.retry_period,
    "leader election wants lease_duration > renew_deadline > retry_period")
  self.collection = "/apis/coordination.k8s.io/v1/namespaces/" .. self.namespace .. "/leases"
  self.path = self.collection .. "/" .. self.name
  return self
end

function Elector:is_leader()
  return self.leading == true
end

-- The holder we last saw ("" when none).
function Elector:holder()
  return self.observed_holder or ""
end

function Elector:log_fields(extra)
  local f = { lease = self.namespace .. "/" .. self.name, identity = self.identity }
  for k, v in pairs(extra or {}) do f[k] = v end
  return f
end

-- Notes the record read; its expiry clock restarts when it changed.
function Elector:observe(lease)
  local spec = lease.spec or {}
  local seen = table.concat({ tostring(spec.holderIdentity), tostring(spec.renewTime),
    tostring(spec.acquireTime), tostring(spec.leaseTransitions), tostring(spec.leaseDurationSeconds) }, "|")
  if seen ~= self.observed then
    self.observed, self.observed_at = seen, task.now()
  end
  self.observed_holder = spec.holderIdentity or ""
  self.observed_duration = tonumber(spec.leaseDurationSeconds) or self.lease_duration
  self.lease = lease
end

function Elector:record(transitions, acquire_time, now)
  return { holderIdentity = self.identity, leaseDurationSeconds = self.lease_duration,
    acquireTime = acquire_time or M.micro_time(now), renewTime = M.micro_time(now),
    leaseTransitions = transitions }
end

-- Writes lease with our record; true, or false and why.
function Elector:write(lease, now)
  local spec = lease.spec or {}
  local ours = spec.holderIdentity == self.identity
  lease.spec = self:record(ours and (spec.leaseTransitions or 0) or (spec.leaseTransitions or 0) + 1,
    ours and spec.acquireTime or nil, now)
  local updated, err = self.kube:update(self.path, lease)
  if not updated then return false, err end
  self:observe(updated)
  return true
end

-- One attempt to take or renew the lease: true, or false and why.
function Elector:try()
  local now = task.time()
  -- the leader renews from the copy it wrote last; a conflict means someone
  -- else wrote, and the read below sorts it out
  if self.leading and self.lease and self:write(self.lease, now) then return true end
  local lease, err = self.kube:get(self.path)
  if not lease then
    if err.code ~= 404 then return false, err end
    local created, cerr = self.kube:create(self.collection, {
      apiVersion = "coordination.k8s.io/v1", kind = "Lease",
      metadata = { name = self.name, namespace = self.namespace },
      spec = self:record(0, nil, now) })
    if not created then return false, cerr end
    self:observe(created)
    return true
  end
  self:observe(lease)
  local holder = self.observed_holder
  if holder ~= "" and holder ~= self.identity
    and task.now() < self.observed_at + self.observed_duration then
    return false, "held by " .. holder
  end
  return self:write(lease, now)
end

-- The candidate's wait: retry_period with up to 20% jitter (client-go's).
function Elector:pause()
  self.wake:wait(self.retry_period * (1 + 0.2 * math.random()))
end

function Elector:campaign(on_started, on_lost)
  local said
  while not self.stopping do
    local ok, why = self:try()
    if ok then break end
    -- once per holder, or per error (a 403 here means RBAC lacks leases)
    why = tostring(why)
    if why ~= said then
      said = why
      log.info("waiting for the leader lease", self:log_fields({ holder = self.observed_holder,
        reason = why }))
    end
    self:pause()
  end
  if self.stopping then return end
  self.leading = true
  log.info("became leader", self:log_fields())
  on_started()
  local renewed = task.now()
  while not self.stopping do
    self.wake:wait(self.retry_period)
    if self.stopping then break end
    local ok, why = self:try()
    if ok then
      renewed = task.now()
    elseif task.now() - renewed >= self.renew_deadline then
      self.leading = false
      log.error("lost the leader lease: no renewal for " .. self.renew_deadline .. " s",
        self:log_fields({ reason = tostring(why) }))
      on_lost(tostring(why))
      return
    else
      log.warn("could not renew the leader lease; retrying", self:log_fields({ reason = tostring(why) }))
    end
  end
end

function Elector:start(cb)
  self.task = task.spawn(function() self:campaign(cb.on_started, cb.on_lost) end)
end

-- Stops campaigning; a held lease is handed back (empty holder).
function Elector:stop()
  self.stopping = true
  self.wake:notify_all()
  if self.task then task.wait(self.task) end
  if not (self.leading and self.lease) then return end
  self.leading = false
  local now = task.time()
  local lease = self.lease
  local spec = lease.spec or {}
  lease.spec = { holderIdentity = "", leaseDurationSeconds = 1, acquireTime = M.micro_time(now),
    renewTime = M.micro_time(now), leaseTransitions = spec.leaseTransitions or 0 }
  local _, err = self.kube:update(self.path, lease)
  if err then
    log.warn("could not release the leader lease; it expires by itself",
      self:log_fields({ reason = tostring(err) }))
  else
    log.info("released the leader lease", self:log_fields())
  end
end

return M
