-- A small Kubernetes REST client over smop.http, for the driver and the
-- CLI: one object per call, JSON in and out, errors as Kubernetes says them.
--
--   local client = require("kube.client")
--   local kc = client.new(cfg)            -- cfg from kube.config.load
--   local obj, err = kc:get("/apis/sagemaker.aws.amazon.com/v1/namespaces/default/trainingjobs/x")
--   if not obj then
--     -- err = { code = 404, reason = "NotFound", message = "...", details = {...},
--     --         method = "GET", path = "...", retry_after = seconds|nil }
--     -- code = 0, reason = "Transport" when no answer came; tostring(err) is one line
--   end
--
-- Methods (all yield; path is absolute, may carry a query):
--   kc:get(path)                       -> object
--   kc:list(path [, {label_selector=, field_selector=, limit=}])
--                                      -> { items = array, resource_version = "..." }
--   kc:create(path, obj)               POST   (path of the collection)
--   kc:update(path, obj)               PUT
--   kc:patch(path, body, kind)         PATCH, kind "merge" (default) | "json" |
--                                      "strategic" | "apply" (server-side apply, force)
--   kc:patch_status(path, body)        merge patch of path .. "/status"
--   kc:delete(path [, body])           DELETE, body = DeleteOptions (a table)
--   kc:request(method, path, body, content_type) -> object, err, res
--   kc:informer{ path =, label_selector =, resync =, ... }  -> a smop.kube informer
--       with this client's server, TLS and token (options as kube.informer's)
-- Bodies are tables (encoded with smop.json: mark arrays with json.array and
-- deletions with json.null) or strings sent as they are. Writes carry
-- ?fieldManager=smop (opts.field_manager).
--
-- Tokens: with cfg.token_file the token is re-read (cfg.read_file, or
-- opts.read_file) when it is older than a minute, and once more right away
-- when the server answers 401, and the request is retried once. The
-- informers started here re-read it the same way. An exec credential (cfg.exec
-- with cfg.run) is run again when it expires or on a 401. Informers ask for
-- their token where nothing may yield, so for them the plugin runs in a task
-- of its own when the token expires within a minute (or, without an expiry,
-- is a minute old) and they get the new token at their next ask.
local http = require("smop.http")
local json = require("smop.json")
local kube = require("smop.kube")
local task = require("smop.task")

local M = {}
local Client = {}
Client.__index = Client

M.TOKEN_REFRESH = 60

local PATCH_TYPES = {
  merge = "application/merge-patch+json",
  json = "application/json-patch+json",
  strategic = "application/strategic-merge-patch+json",
  apply = "application/apply-patch+yaml",
}

local PHRASES = {
  [400] = "BadRequest", [401] = "Unauthorized", [403] = "Forbidden", [404] = "NotFound",
  [405] = "MethodNotAllowed", [409] = "Conflict", [410] = "Gone", [415] = "UnsupportedMediaType",
  [422] = "Invalid", [429] = "TooManyRequests", [500] = "InternalError",
  [502] = "BadGateway", [503] = "ServiceUnavailable", [504] = "Timeout",
}

local error_mt = {}
error_mt.__index = error_mt
function error_mt.__tostring(e)
  local where = e.method and string.format("%s %s: ", e.method, e.path) or ""
  if e.code == 0 then return where .. tostring(e.message) end
  return string.format("%s%d %s: %s", where, e.code, tostring(e.reason), tostring(e.message))
end

function M.is_error(v)
  return getmetatable(v) == error_mt
end

local function new_error(fields)
  return setmetatable(fields, error_mt)
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- RFC 3339 UTC ("2026-11-23T12:07:53Z") to epoch seconds, or nil.
local function epoch(text)
  local y, mo, d, h, mi, s = tostring(text):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then y = y - 1 end   -- days from civil (H. Hinnant)
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + tonumber(d) - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

function M.new(cfg, opts)
  opts = opts or {}
  if type(cfg) ~= "table" or type(cfg.server) ~= "string" then
    error("kube.client.new: a configuration from kube.config.load is required", 2)
  end
  local read_file = opts.read_file or cfg.read_file
  if cfg.token_file and not read_file then
    error("kube.client.new: cfg.token_file needs read_file (cfg.read_file or opts.read_file)", 2)
  end
  return setmetatable({
    server = (cfg.server:gsub("/+$", "")),
    namespace = cfg.namespace,
    token = cfg.token,
    token_file = cfg.token_file,
    read_file = read_file,
    token_read_at = task.now(),
    exec = cfg.exec, run = cfg.run, token_expires = epoch(cfg.token_expires),
    ca_pem = cfg.ca_pem,
    client_cert_pem = cfg.client_cert_pem,
    client_key_pem = cfg.client_key_pem,
    timeout = opts.timeout or 30,
    field_manager = opts.field_manager or "smop",
  }, Client)
end

-- Re-reads the token when it is stale (or force); returns it, or nil, err
-- when it could not be refreshed (the old token stays in use).
function Client:refresh_token(force)
  if self.token_file then
    if force or task.now() - self.token_read_at >= M.TOKEN_REFRESH then
      self.token_read_at = task.now()
      local text, err = self.read_file(self.token_file)
      if not text then return nil, err end
      self.token = trim(text)
    end
  elseif self.exec and self.run then
    if force or (self.token_expires and task.time() >= self.token_expires - 60) then
      local config = require("kube.config")
      local cfg, err = config.exec_credential({ run = self.run }, self.exec, "exec")
      if not cfg then return nil, err end
      self.token_read_at = task.now()
      self.token = cfg.token or self.token
      self.token_expires = epoch(cfg.expires)
    end
  end
  return self.token
end

-- The exec credential's token for a caller that cannot yield (an informer's
-- token function): starts a run of the plugin in a task when one is due; a
-- failed run is answered (nil, err) at the next ask, the old token stays.
function Client:exec_token_nowait()
  if self.exec_error then
    local err = self.exec_error
    self.exec_error = nil
    return nil, err
  end
  local due
  if self.token_expires then
    due = task.time() >= self.token_expires - 60
  else
    due = task.now() - self.token_read_at >= M.TOKEN_REFRESH
  end
  if due and not self.exec_running then
    self.exec_running = true
    task.spawn(function()
      local _, err = self:refresh_token(true)
      self.exec_running, self.exec_error = false, err
    end)
  end
  return self.token
end

function Client:can_refresh()
  return self.token_file ~= nil or (self.exec ~= nil and self.run ~= nil)
end

local function status_error(method, path, res)
  local body = res.body ~= "" and json.decode(res.body) or nil
  local e = { method = method, path = path, code = res.status }
  if type(body) == "table" and body.kind == "Status" then
    e.code = math.tointeger(body.code) or res.status
    e.reason = body.reason
    e.message = body.message
    e.details = body.details
  end
  e.reason = e.reason or PHRASES[res.status] or "Unknown"
  if e.message == nil then
    local text = res.body:sub(1, 200):gsub("%c", " ")
    e.message = text ~= "" and text or ("HTTP " .. res.status)
  end
  local ra = tonumber(res.headers["retry-after"] or "")
  if ra then e.retry_after = ra end
  return new_error(e)
end

function Client:request(method, path, body, content_type)
  local headers = { Accept = "application/json" }
  if body ~= nil then
    if type(body) ~= "string" then
      local text, err = json.encode(body)
      if not text then
        return nil, new_error({ method = method, path = path, code = 0, reason = "Encode",
          message = err })
      end
      body = text
    end
    headers["Content-Type"] = content_type or "application/json"
  end
  for attempt = 1, 2 do
    local token = self:refresh_token(attempt == 2) or self.token
    headers.Authorization = token and token ~= "" and ("Bearer " .. token) or nil
    local res, err = http.request({ method = method, url = self.server .. path,
      headers = headers, body = body, timeout = self.timeout, ca_pem = self.ca_pem,
      client_cert_pem = self.client_cert_pem, client_key_pem = self.client_key_pem })
    if not res then
      return nil, new_error({ method = method, path = path, code = 0, reason = "Transport",
        message = err })
    end
    if not (res.status == 401 and attempt == 1 and self:can_refresh()) then
      if res.status < 200 or res.status > 299 then
        return nil, status_error(method, path, res), res
      end
      local obj, derr = json.decode(res.body)
      if obj == nil then
        return nil, new_error({ method = method, path = path, code = res.status,
          reason = "BadResponse", message = "the response is not JSON: " .. tostring(derr) }), res
      end
      return obj, nil, res
    end
  end
end

local function with_query(path, name, value)
  local sep = path:find("?", 1, true) and "&" or "?"
  local enc = tostring(value):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end)
  return path .. sep .. name .. "=" .. enc
end

function Client:writer_path(path)
  if not self.field_manager or path:find("[?&]fieldManager=") then return path end
  return with_query(path, "fieldManager", self.field_manager)
end

function Client:get(path)
  return self:request("GET", path)
end

function Client:list(path, opts)
  opts = opts or {}
  local base = path
  if opts.label_selector then base = with_query(base, "labelSelector", opts.label_selector) end
  if opts.field_selector then base = with_query(base, "fieldSelector", opts.field_selector) end
  base = with_query(base, "limit", opts.limit or 500)
  local items, cont = json.array({}), nil
  repeat
    local page, err = self:request("GET", cont and with_query(base, "continue", cont) or base)
    if not page then return nil, err end
    for _, item in ipairs(page.items ~= json.null and page.items or {}) do
      items[#items + 1] = item
    end
    local meta = page.metadata or {}
    cont = meta["continue"] ~= "" and meta["continue"] or nil
    if not cont then
      return { items = items, resource_version = meta.resourceVersion }
    end
  until false
end

function Client:create(path, obj)
  return self:request("POST", self:writer_path(path), obj)
end

function Client:update(path, obj)
  return self:request("PUT", self:writer_path(path), obj)
end

function Client:patch(path, body, kind)
  local content_type = PATCH_TYPES[kind or "merge"]
  if not content_type then
    error("kube.client: patch kind must be merge, json, strategic or apply, not " ..
      tostring(kind), 2)
  end
  path = self:writer_path(path)
  if kind == "apply" then path = with_query(path, "force", "true") end
  return self:request("PATCH", path, body, content_type)
end

function Client:patch_status(path, body)
  local p, q = path:match("^([^?]*)(.*)$")
  return self:patch(p .. "/status" .. q, body, "merge")
end

function Client:delete(path, body)
  return self:request("DELETE", path, body)
end

-- An informer on this client's server, credentials and TLS settings.
function Client:informer(opts)
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.server = self.server
  o.ca_pem, o.client_cert_pem, o.client_key_pem = self.ca_pem, self.client_cert_pem,
    self.client_key_pem
  if self.exec and self.run then
    o.token = function() return self:exec_token_nowait() end
    o.token_refresh = o.token_refresh or M.TOKEN_REFRESH
  elseif self:can_refresh() then
    o.token = function() return self:refresh_token(true) end
    o.token_refresh = o.token_refresh or M.TOKEN_REFRESH
  else
    o.token = self.token
  end
  return kube.informer(o)
end

return M
