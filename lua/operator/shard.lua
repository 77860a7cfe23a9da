-- `--shard i/n`: replicas split the objects of every kind between them by
-- a hash of "namespace/name", so each object has exactly one owner however
-- many replicas run (each with its own Lease when leader election is on).
--
--   local owns, err = shard.parse("1/3")   -- nil, message for a bad value
--   owns("ml/xgboost-mnist")                -- true when the object is ours
--   shard.index("ml/xgboost-mnist", 3)      -- 0..2: which shard owns it
--
-- The hash is 32-bit FNV-1a of the key's bytes, modulo n: fixed here so
-- that replicas built from different versions still agree on the split.
local M = {}

local FNV_OFFSET, FNV_PRIME = 0x811c9dc5, 0x01000193

function M.hash(s)
  local h = FNV_OFFSET
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * FNV_PRIME) & 0xffffffff
  end
  return h
end

function M.index(key, n)
  return M.hash(key) % n
end

function M.parse(text)
  local i, n = tostring(text):match("^(%d+)/(%d+)$")
  i, n = tonumber(i), tonumber(n)
  if not i or n < 1 or i >= n then
    return nil, "--shard wants i/n with 0 <= i < n (e.g. 0/3, 1/3, 2/3), not " .. tostring(text)
  end
  return function(key) return M.index(key, n) == i end, { index = i, count = n }
end

return M
