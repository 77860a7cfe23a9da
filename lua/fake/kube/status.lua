-- Kubernetes Status objects for the fake API's failures, worded as
-- k8s.io/apimachinery/pkg/api/errors words them. Each function returns the
-- Status as a table the API layer renders unchanged (it owns the key order:
-- kind, apiVersion, metadata, status, message, reason, details, code).
local M = {}

function M.new(code, reason, message, details, extra_metadata)
  return {
    kind = "Status", apiVersion = "v1", metadata = extra_metadata or {},
    status = "Failure", message = message, reason = reason, details = details,
    code = code,
  }
end

-- "trainingjobs.sagemaker.aws.amazon.com", "configmaps".
function M.group_resource(kind_def)
  if kind_def.group == "" then return kind_def.plural end
  return kind_def.plural .. "." .. kind_def.group
end

-- "TrainingJob.sagemaker.aws.amazon.com", "ConfigMap".
function M.group_kind(kind_def)
  if kind_def.group == "" then return kind_def.kind end
  return kind_def.kind .. "." .. kind_def.group
end

-- details as Go omits empty fields from them.
local function details(name, group, kind, more)
  local d = more or {}
  if name and name ~= "" then d.name = name end
  if group and group ~= "" then d.group = group end
  if kind and kind ~= "" then d.kind = kind end
  return d
end
M.details = details

function M.not_found(kind_def, name)
  return M.new(404, "NotFound",
    string.format('%s "%s" not found', M.group_resource(kind_def), name),
    details(name, kind_def.group, kind_def.plural))
end

-- NotFound for a resource named by hand (a missing namespace).
function M.not_found_resource(group, plural, name)
  local gr = group == "" and plural or (plural .. "." .. group)
  return M.new(404, "NotFound", string.format('%s "%s" not found', gr, name),
    details(name, group, plural))
end

function M.already_exists(kind_def, name)
  return M.new(409, "AlreadyExists",
    string.format('%s "%s" already exists', M.group_resource(kind_def), name),
    details(name, kind_def.group, kind_def.plural))
end

-- A 409 on a group/resource given as strings (the delete preconditions use the
-- Kind there, as the apiserver does).
function M.conflict_on(group, resource, name, why)
  local gr = group == "" and resource or (resource .. "." .. group)
  return M.new(409, "Conflict",
    string.format('Operation cannot be fulfilled on %s "%s": %s', gr, name, why),
    details(name, group, resource))
end

function M.conflict(kind_def, name, why)
  return M.conflict_on(kind_def.group, kind_def.plural, name,
    why or "the object has been modified; please apply your changes to the latest version and try again")
end

function M.bad_request(message)
  return M.new(400, "BadRequest", message)
end

-- Without a name (a list, a create by generateName) the message names the
-- resource only, as NewForbidden words it.
function M.forbidden(kind_def, name, why, causes)
  local what = M.group_resource(kind_def)
  if name and name ~= "" then what = string.format('%s "%s"', what, name) end
  return M.new(403, "Forbidden", string.format("%s is forbidden: %s", what, why),
    details(name, kind_def.group, kind_def.plural, { causes = causes }))
end

function M.expired(message, continue_token)
  return M.new(410, "Expired", message, nil,
    continue_token and { continue = continue_token } or nil)
end

function M.too_large_resource_version(want, current)
  return M.new(504, "Timeout",
    string.format("Too large resource version: %d, current: %d", want, current),
    { causes = { { reason = "ResourceVersionTooLarge", message = "Too large resource version" } },
      retryAfterSeconds = 1 })
end

function M.unsupported_media_type(message)
  return M.new(415, "UnsupportedMediaType", message)
end

function M.method_not_supported(kind_def, action)
  return M.new(405, "MethodNotAllowed",
    string.format("%s is not supported on resources of kind %q", action, M.group_kind(kind_def)),
    details(nil, kind_def.group, kind_def.plural))
end

-- 422 for a JSON patch that does not apply (NewGenericServerResponse).
function M.patch_failed(message)
  return M.new(422, "Invalid", "the server rejected our request due to an error in our request",
    { causes = { { reason = "UnexpectedServerResponse", message = message } } })
end

function M.internal(message)
  return M.new(500, "InternalError",
    string.format("Internal error occurred: %s", message),
    { causes = { { message = message } } })
end

-- Success Status of an immediate delete (finalizeDelete).
function M.success_deleted(kind_def, name, uid)
  return {
    kind = "Status", apiVersion = "v1", metadata = {}, status = "Success",
    details = details(name, kind_def.group, kind_def.plural, { uid = uid }),
  }
end

return M
