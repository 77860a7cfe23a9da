-- The kinds the fake serves, seen through the store (built-in kinds from
-- builtin.lua; custom resources come and go with their CRDs, registered by
-- builtin.lua's CRD controller), shaped for routing, discovery and OpenAPI.
-- `generation` changes whenever the set of kinds or any kind_def changes,
-- so discovery and OpenAPI know when to rebuild their cached documents.
--
--   local reg = registry.new(store)
--   reg:find(group, version, plural) -> kind_def | nil
--   reg:groups()  -> { { name = "", versions = { { version = "v1", kinds = {...} } } }, ... }
--                    core first, then the built-in groups in kube-apiserver's
--                    order, then custom groups in the order they appeared
--   reg:has_version(group, version) -> boolean
--   reg:generation() -> string
local M = {}
local Registry = {}
Registry.__index = Registry

-- kube-apiserver's discovery order for the built-in groups served here.
local GROUP_RANK = { [""] = 0, ["events.k8s.io"] = 1, ["apiextensions.k8s.io"] = 2,
  ["coordination.k8s.io"] = 3 }

function M.new(store)
  return setmetatable({ store = store, seen = {}, seq = 0, cache = nil }, Registry)
end

function Registry:find(group, version, plural)
  return self.store:kind_for(group or "", version, plural)
end

-- Kubernetes version priority: GA before beta before alpha, then by
-- number, descending ("v2" > "v1" > "v1beta2" > "v1beta1" > "v1alpha1" >
-- anything else, alphabetically).
local function version_rank(v)
  local major, stage, minor = v:match("^v(%d+)(%a*)(%d*)$")
  if not major then return { 3, 0, 0, v } end
  if stage == "" and minor == "" then return { 0, -tonumber(major), 0, v } end
  if stage == "beta" and minor ~= "" then return { 1, -tonumber(major), -tonumber(minor), v } end
  if stage == "alpha" and minor ~= "" then return { 2, -tonumber(major), -tonumber(minor), v } end
  return { 3, 0, 0, v }
end

local function rank_less(a, b)
  for i = 1, 3 do
    if a[i] ~= b[i] then return a[i] < b[i] end
  end
  return a[4] < b[4]
end

-- A signature of the kind set: the same tables under the same names.
function Registry:generation()
  local parts = {}
  for i, kd in ipairs(self.store:kinds()) do
    parts[i] = kd.group .. "/" .. kd.version .. "/" .. kd.plural .. "@" .. tostring(kd)
  end
  return table.concat(parts, ",")
end

function Registry:has_version(group, version)
  for _, g in ipairs(self:groups()) do
    if g.name == (group or "") then
      for _, vs in ipairs(g.versions) do
        if vs.version == version then return true end
      end
    end
  end
  return false
end

function Registry:groups()
  local gen = self:generation()
  if self.cache and self.cache.gen == gen then return self.cache.groups end
  local by_group = {}
  for _, kind in ipairs(self.store:kinds()) do
    local g = kind.group or ""
    if not self.seen[g] then
      self.seq = self.seq + 1
      self.seen[g] = self.seq
    end
    local entry = by_group[g]
    if not entry then
      entry = { name = g, by_version = {} }
      by_group[g] = entry
    end
    local vs = entry.by_version[kind.version]
    if not vs then
      vs = { version = kind.version, kinds = {} }
      entry.by_version[kind.version] = vs
    end
    vs.kinds[#vs.kinds + 1] = kind
  end
  local groups = {}
  for g, entry in pairs(by_group) do
    entry.versions = {}
    for _, vs in pairs(entry.by_version) do
      table.sort(vs.kinds, function(a, b) return a.plural < b.plural end)
      entry.versions[#entry.versions + 1] = vs
    end
    table.sort(entry.versions, function(a, b)
      return rank_less(version_rank(a.version), version_rank(b.version))
    end)
    entry.by_version = nil
    entry.rank = GROUP_RANK[g] or (100 + self.seen[g])
    groups[#groups + 1] = entry
  end
  table.sort(groups, function(a, b) return a.rank < b.rank end)
  self.cache = { gen = gen, groups = groups }
  return groups
end

return M
