-- SageMaker names for Kubernetes objects (COMPAT.md "SageMaker names").
--
--   naming.generate("xgboost-mnist", "cf1e16fb-10a5-11ea-aa45-0a350733ba06", 63)
--   --> "xgboost-mnist-cf1e16fb10a511eaaa450a350733ba06"
--
-- metadata.name + "-" + the UID without dashes; when that is longer than
-- max_len the end of the name is cut first, and when the UID alone does not
-- fit, its first max_len characters are the name. The result is the same
-- every time for one object, so a create retried after a crash meets the
-- job it already created instead of starting a second one.
--
-- SageMaker names allow [a-zA-Z0-9](-*[a-zA-Z0-9])*, Kubernetes names also
-- dots: a dot becomes a dash.
local M = {}

M.MAX = 63          -- jobs, models, endpoints, endpoint configs
M.MAX_TUNING = 32   -- hyperparameter tuning jobs

function M.generate(name, uid, max_len)
  max_len = max_len or M.MAX
  local id = tostring(uid or ""):gsub("-", "")
  local base = tostring(name or ""):gsub("%.", "-")
  local room = max_len - #id - 1
  if room < 1 then return id:sub(1, max_len) end
  -- a cut that ends in dashes is still valid: "-*" may repeat before the UID
  return base:sub(1, room) .. "-" .. id
end

-- The generated name of a Kubernetes object (metadata.name and .uid).
function M.for_object(obj, max_len)
  local meta = obj.metadata or {}
  return M.generate(meta.name, meta.uid, max_len)
end

return M
