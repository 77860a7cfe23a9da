-- The HTTP face of the fake Kubernetes API: bearer-token authentication,
-- routing, content negotiation and the shapes of answers, as kube-apiserver
-- 1.32 gives them to kubectl (../shared/kube-wire records the real ones).
--
--   api.handle(app, req) -> status, headers, body   (or a stream, for watches)
--
-- Routes: /version, /healthz|/livez|/readyz (no token needed, as with RBAC's
-- public-info-viewer), /_smop/... (control.lua, no token), then with a
-- token: discovery (/api, /apis, ...), /openapi/v3..., and resources under
-- /api/v1/... and /apis/<g>/<v>/... (rest.lua).
local discovery = require("fake.kube.discovery")
local openapi = require("fake.kube.openapi")
local rest = require("fake.kube.rest")
local wire = require("fake.kube.wire")
local yaml = require("smop.yaml")

local M = {}

local CONTROL = "_smop"

-- "/apis/a%2Fb/v1/" -> { "apis", "a/b", "v1" }
local function segments(path)
  local segs = {}
  for s in path:gmatch("[^/]+") do
    segs[#segs + 1] = s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  end
  return segs
end

-- Whether the server indents JSON for this client (curl, wget, browsers,
-- or ?pretty=true).
function M.pretty(req)
  local p = req.args and req.args.pretty
  if p == "true" or p == "1" then return true end
  if p == "false" or p == "0" then return false end
  local ua = req.headers["user-agent"] or ""
  return ua:find("curl", 1, true) ~= nil or ua:find("Wget", 1, true) ~= nil
    or ua:find("Mozilla/", 1, true) ~= nil
end

-- ---- answers (also used by discovery, openapi, rest) ----

local Answers = {}

function Answers:json_answer(req, code, doc, extra)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return code, self:headers(h), wire.encode(doc, M.pretty(req))
end

function Answers:yaml_answer(_, code, doc, extra)
  local h = { ["Content-Type"] = "application/yaml" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return code, self:headers(h), assert(yaml.encode(wire.plain(doc)))
end

-- A Status body for e (a store error or wire.error(...)); extra headers.
function Answers:status_answer(req, e, extra)
  return self:json_answer(req, e.code or 500, wire.status(e), extra)
end

-- Go's http.NotFound: what kube-apiserver answers for a path nothing serves
-- (an unknown group, version or resource).
function Answers:page_not_found()
  return 404, self:headers({ ["Content-Type"] = "text/plain; charset=utf-8",
    ["X-Content-Type-Options"] = "nosniff" }), "404 page not found\n"
end

-- Adds the answer helpers above to the app's class.
function M.install(App)
  for k, f in pairs(Answers) do App[k] = f end
end

local UNAUTHORIZED = { code = 401, reason = "Unauthorized", message = "Unauthorized" }

local function authorized(app, req)
  if not app.token then return true end
  local auth = req.headers["authorization"] or ""
  local token = auth:match("^[Bb]earer%s+(%S+)%s*$")
  return token ~= nil and token == app.token
end

local PUBLIC = { version = true, healthz = true, livez = true, readyz = true }

function M.handle(app, req)
  local segs = segments(req.path or "/")
  local first = segs[1]
  if first == CONTROL then
    return app.control:handle(req, segs)
  end
  app.control:delay()
  if PUBLIC[first] and #segs == 1 and (req.method == "GET" or req.method == "HEAD") then
    if first == "version" then
      local v = app.version
      local doc = wire.obj("major", v.major, "minor", v.minor, "gitVersion", v.gitVersion,
        "gitCommit", v.gitCommit, "gitTreeState", v.gitTreeState, "buildDate", v.buildDate,
        "goVersion", v.goVersion, "compiler", v.compiler, "platform", v.platform)
      return 200, app:headers({ ["Content-Type"] = "application/json" }), wire.encode(doc, true)
    end
    return 200, app:headers({ ["Content-Type"] = "text/plain; charset=utf-8",
      ["X-Content-Type-Options"] = "nosniff" }), "ok"
  end
  if not authorized(app, req) then
    return app:status_answer(req, UNAUTHORIZED)
  end
  if first == "openapi" then
    if segs[2] == "v2" then return app:page_not_found() end
    local code, headers, body = openapi.serve(app, req, segs)
    if code then return code, headers, body end
    return app:page_not_found()
  end
  if first == "api" or first == "apis" then
    local code, headers, body = discovery.serve(app, req, segs)
    if code then return code, headers, body end
    return rest.serve(app, req, segs)
  end
  return app:page_not_found()
end

return M
