-- Where the Kubernetes API server is and how to authenticate to it, found
-- the way kubectl and client-go find it.
--
--   local config = require("kube.config")
--   local cfg, err = config.load{ kubeconfig = path, context = name,
--     read_file = sys.read_file, getenv = sys.getenv }
--   -- cfg = { server = "https://...", token =, token_file =, ca_pem =,
--   --         client_cert_pem =, client_key_pem =, namespace = "default",
--   --         source = "kubeconfig <file> context <ctx>" | "in-cluster",
--   --         context =, warnings = { ... } }
--   -- err = "kubeconfig /x: context \"foo\" not found", ...
--
-- Order: `kubeconfig` (an explicit --kubeconfig), then KUBECONFIG (a
-- colon-separated list merged like kubectl: for each cluster, user and
-- context name, and for current-context, the first file that sets it wins;
-- missing files are skipped), then in-cluster (KUBERNETES_SERVICE_HOST and
-- _PORT, and the service account's token, ca.crt and namespace files),
-- then ~/.kube/config.
--
-- Files: this module has no file access of its own. The caller passes
-- read_file(path) -> text | nil, err and getenv(name) -> value | nil (the
-- CLI's sys.read_file/sys.getenv), or env = { NAME = value } instead of
-- getenv. Using one that was not given is an error.
--
-- Tokens rotate (kubelet replaces projected service-account tokens; a
-- kubeconfig tokenFile may change too), so with a token file the result has
-- token_file (and read_file, to re-read it) besides the token read now;
-- kube.client re-reads it at most every minute and after a 401, and so do
-- the informers it starts.
--
-- exec credential plugins (users[].user.exec, client.authentication.k8s.io
-- v1 and v1beta1, e.g. `aws eks get-token`) need to run a process, which the
-- sandbox cannot. They work when the caller passes run(command, args, env)
-- -> stdout | nil, err [, reason] (the CLI passes sys.run, so `smop run` has
-- them); without it config.load says they are unsupported. As in client-go,
-- a command with a slash is relative to its kubeconfig, stdin is not a
-- terminal (interactiveMode Always is refused), and installHint is shown when
-- the command is not found (reason "notfound"). Basic auth and auth-provider
-- are not supported; insecure-skip-tls-verify is refused (smop always
-- verifies servers).
local json = require("smop.json")
local yaml = require("smop.yaml")

local M = {}

M.SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
local EXEC_VERSIONS = {
  ["client.authentication.k8s.io/v1"] = true,
  ["client.authentication.k8s.io/v1beta1"] = true,
}

local b64 = {}
do
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for i = 1, #alphabet do b64[alphabet:byte(i)] = i - 1 end
end

-- Standard base64 (whitespace ignored, padding optional); nil if invalid.
local function unbase64(s)
  s = s:gsub("%s", ""):gsub("=+$", "")
  if #s % 4 == 1 then return nil end
  local out = {}
  for i = 1, #s, 4 do
    local n, count = 0, 0
    for j = i, math.min(i + 3, #s) do
      local v = b64[s:byte(j)]
      if not v then return nil end
      n = n * 64 + v
      count = count + 1
    end
    n = n << (6 * (4 - count))
    local bytes = string.char((n >> 16) & 255, (n >> 8) & 255, n & 255)
    out[#out + 1] = bytes:sub(1, count - 1)
  end
  return table.concat(out)
end
M.unbase64 = unbase64

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function resolve(path, file)
  if path:sub(1, 1) == "/" then return path end
  return dirname(file) .. "/" .. path
end

local function missing(err)
  return tostring(err):find("No such file", 1, true) ~= nil
end

local function string_field(t, name)
  local v = t[name]
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- Merges the named lists (clusters, users, contexts) of kubeconfig files:
-- the first file to define a name wins, as kubectl does.
local function merge(docs)
  local merged = { clusters = {}, users = {}, contexts = {} }
  for _, d in ipairs(docs) do
    local doc, file = d.doc, d.file
    if not merged.current_context and string_field(doc, "current-context") then
      merged.current_context = doc["current-context"]
    end
    for kind, field in pairs({ clusters = "cluster", users = "user", contexts = "context" }) do
      local list = doc[kind]
      if list ~= nil and type(list) ~= "table" then
        return nil, string.format("kubeconfig %s: %s must be a list", file, kind)
      end
      for i, entry in ipairs(list or {}) do
        if type(entry) ~= "table" or type(entry.name) ~= "string" then
          return nil, string.format("kubeconfig %s: %s[%d] has no name", file, kind, i)
        end
        if not merged[kind][entry.name] then
          local value = entry[field]
          if value ~= nil and type(value) ~= "table" then
            return nil, string.format("kubeconfig %s: %s %q: %s must be a mapping", file,
              field, entry.name, field)
          end
          merged[kind][entry.name] = { value = value or {}, file = file }
        end
      end
    end
  end
  return merged
end

local function names(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ", ")
end

-- Reads a file named by a kubeconfig (relative to that kubeconfig).
local function read_ref(env, path, file, what)
  local full = resolve(path, file)
  local text, err = env.read_file(full)
  if not text then return nil, string.format("%s %s", what, tostring(err)) end
  return text, nil, full
end

-- Data (base64) or a file, for certificate-authority, client-certificate...
local function pem(env, t, name, file, where)
  local data = string_field(t, name .. "-data")
  if data then
    local text = unbase64(data)
    if not text then
      return nil, string.format("%s: %s-data is not valid base64", where, name)
    end
    return text
  end
  local path = string_field(t, name)
  if not path then return nil end
  local text, err = read_ref(env, path, file, name)
  if not text then return nil, where .. ": " .. err end
  return text
end

-- Runs an exec credential plugin (spec = users[].user.exec) with env.run
-- and reads its ExecCredential: { token =, client_cert_pem =,
-- client_key_pem =, expires = RFC 3339 | nil } or nil, err.
local function exec_credential(env, spec, where)
  local command = string_field(spec, "command")
  if not command then return nil, where .. ": exec has no command" end
  if not env.run then
    return nil, string.format("%s: exec credential plugins (command %q) are not supported " ..
      "here: smop cannot run processes; use a token, tokenFile or client certificates " ..
      "(e.g. a service-account token)", where, command)
  end
  local version = spec.apiVersion
  if not EXEC_VERSIONS[version] then
    return nil, string.format("%s: exec apiVersion %q is not supported (use " ..
      "client.authentication.k8s.io/v1)", where, tostring(version))
  end
  if spec.interactiveMode == "Always" then
    return nil, string.format("%s: exec %s wants interactiveMode Always, but smop has no " ..
      "terminal to give it (use IfAvailable or Never)", where, command)
  end
  local vars = {}
  for _, e in ipairs(type(spec.env) == "table" and spec.env or {}) do
    if type(e) == "table" and type(e.name) == "string" then
      if not e.name:match("^[^=\0]+$") then
        return nil, string.format("%s: exec env name %q is not a valid variable name", where, e.name)
      end
      vars[e.name] = tostring(e.value)
    end
  end
  vars.KUBERNETES_EXEC_INFO = json.encode({ apiVersion = version, kind = "ExecCredential",
    spec = { interactive = false } })
  local args = {}
  for _, a in ipairs(type(spec.args) == "table" and spec.args or {}) do args[#args + 1] = tostring(a) end
  local out, err, reason = env.run(command, args, vars)
  if not out then
    local hint = ""
    if reason == "notfound" then
      hint = "; is the credential plugin installed?"
      if string_field(spec, "installHint") then
        hint = hint .. " " .. trim((spec.installHint:gsub("%s+", " ")))
      end
    end
    return nil, string.format("%s: exec %s: %s%s", where, command, tostring(err), hint)
  end
  local cred = json.decode(out)
  local status = type(cred) == "table" and cred.status
  if type(status) ~= "table" then
    return nil, string.format("%s: exec %s did not print an ExecCredential with a status",
      where, command)
  end
  if not status.token and not (status.clientCertificateData and status.clientKeyData) then
    return nil, string.format("%s: exec %s gave neither a token nor a client certificate",
      where, command)
  end
  return { token = status.token, client_cert_pem = status.clientCertificateData,
    client_key_pem = status.clientKeyData, expires = status.expirationTimestamp }
end

M.exec_credential = exec_credential

-- users[].user.exec with its command resolved like client-go does: one with
-- a slash but not absolute is relative to the kubeconfig that names it (a
-- bare name is looked up in PATH when it runs). A copy: kube.client keeps it
-- to run the plugin again.
local function exec_spec(spec, file)
  local copy = {}
  for k, v in pairs(spec) do copy[k] = v end
  local command = string_field(spec, "command")
  if command and command:find("/", 1, true) then
    copy.command = resolve((command:gsub("^%./", "")), file)
  end
  return copy
end

local function from_kubeconfig(env, docs, label, context_name)
  local merged, err = merge(docs)
  if not merged then return nil, err end
  local where = "kubeconfig " .. label
  local name = context_name or merged.current_context
  if not name then
    local known = names(merged.contexts)
    return nil, string.format("%s: no current-context is set; choose one with --context%s",
      where, known ~= "" and (" (" .. known .. ")") or "")
  end
  local ctx = merged.contexts[name]
  if not ctx then
    return nil, string.format("%s: context %q not found", where, name)
  end
  where = "kubeconfig " .. ctx.file
  local cluster_name = string_field(ctx.value, "cluster")
  local cluster = cluster_name and merged.clusters[cluster_name]
  if not cluster then
    return nil, string.format("%s: context %q refers to cluster %q, which is not defined",
      where, name, tostring(cluster_name))
  end
  local user_name = string_field(ctx.value, "user")
  local user = user_name and merged.users[user_name]
  if user_name and not user then
    return nil, string.format("%s: context %q refers to user %q, which is not defined",
      where, name, user_name)
  end

  local c = cluster.value
  local cfg = { context = name, cluster = cluster_name, user = user_name, warnings = {},
    namespace = string_field(ctx.value, "namespace") or "default",
    source = string.format("kubeconfig %s context %s", ctx.file, name) }
  local cwhere = string.format("kubeconfig %s: cluster %q", cluster.file, cluster_name)
  cfg.server = string_field(c, "server")
  if not cfg.server then return nil, cwhere .. ": no server" end
  if not cfg.server:match("^https?://[^/]") then
    return nil, string.format("%s: server %q is not an http(s) URL", cwhere, cfg.server)
  end
  cfg.server = cfg.server:gsub("/+$", "")
  if c["insecure-skip-tls-verify"] == true and cfg.server:match("^https:") then
    return nil, cwhere .. ": insecure-skip-tls-verify is not supported (smop always " ..
      "verifies the server); give certificate-authority-data instead"
  end
  for _, field in ipairs({ "proxy-url", "tls-server-name" }) do
    if string_field(c, field) then
      cfg.warnings[#cfg.warnings + 1] = string.format("%s: %s is ignored", cwhere, field)
    end
  end
  local perr
  cfg.ca_pem, perr = pem(env, c, "certificate-authority", cluster.file, cwhere)
  if perr then return nil, perr end

  if not user then return cfg end -- anonymous
  local u = user.value
  local uwhere = string.format("kubeconfig %s: user %q", user.file, user_name)
  if string_field(u, "username") or string_field(u, "password") then
    return nil, uwhere .. ": basic authentication (username/password) is not supported; " ..
      "use a token or client certificates"
  end
  if type(u["auth-provider"]) == "table" then
    return nil, uwhere .. ": auth-provider plugins are not supported; use a token, " ..
      "tokenFile or client certificates"
  end
  cfg.client_cert_pem, perr = pem(env, u, "client-certificate", user.file, uwhere)
  if perr then return nil, perr end
  cfg.client_key_pem, perr = pem(env, u, "client-key", user.file, uwhere)
  if perr then return nil, perr end
  if (cfg.client_cert_pem == nil) ~= (cfg.client_key_pem == nil) then
    return nil, uwhere .. ": client-certificate and client-key go together"
  end
  cfg.token = string_field(u, "token")
  local token_file = string_field(u, "tokenFile")
  if token_file then
    local text, terr, full = read_ref(env, token_file, user.file, "tokenFile")
    if not text then return nil, uwhere .. ": " .. terr end
    cfg.token, cfg.token_file, cfg.read_file = trim(text), full, env.read_file
  end
  if type(u.exec) == "table" then
    local spec = exec_spec(u.exec, user.file)
    local cred, eerr = exec_credential(env, spec, uwhere)
    if not cred then return nil, eerr end
    cfg.token = cred.token or cfg.token
    cfg.client_cert_pem = cred.client_cert_pem or cfg.client_cert_pem
    cfg.client_key_pem = cred.client_key_pem or cfg.client_key_pem
    cfg.token_expires = cred.expires
    cfg.exec, cfg.run = spec, env.run
  end
  return cfg
end

local function read_kubeconfigs(env, files)
  local docs = {}
  for _, file in ipairs(files) do
    local text, err = env.read_file(file.path)
    if not text then
      if not (file.optional and missing(err)) then
        return nil, "kubeconfig " .. tostring(err)
      end
    else
      local doc, yerr = yaml.decode(text)
      if yerr then return nil, string.format("kubeconfig %s: %s", file.path, yerr) end
      if doc ~= nil and type(doc) ~= "table" then
        return nil, string.format("kubeconfig %s: not a kubeconfig (a mapping with clusters, " ..
          "users and contexts)", file.path)
      end
      if doc then docs[#docs + 1] = { doc = doc, file = file.path } end
    end
  end
  return docs
end

local function in_cluster(env, host, port)
  local dir = env.serviceaccount_dir
  local token_file = dir .. "/token"
  local token, err = env.read_file(token_file)
  if not token then return nil, "in-cluster: " .. tostring(err) end
  local ca, cerr = env.read_file(dir .. "/ca.crt")
  if not ca then return nil, "in-cluster: " .. tostring(cerr) end
  local ns = env.read_file(dir .. "/namespace")
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return { server = "https://" .. host .. ":" .. port, token = trim(token),
    token_file = token_file, read_file = env.read_file, ca_pem = ca,
    namespace = ns and trim(ns) ~= "" and trim(ns) or "default",
    source = "in-cluster", warnings = {} }
end

local function injected(opts)
  local env = { run = opts.run, serviceaccount_dir = opts.serviceaccount_dir or M.SERVICEACCOUNT_DIR }
  env.read_file = opts.read_file or function()
    error("kube.config.load: no read_file given (pass sys.read_file)", 2)
  end
  if type(opts.env) == "table" then
    env.getenv = function(name) return opts.env[name] end
  else
    env.getenv = opts.getenv or function()
      error("kube.config.load: no getenv or env given (pass sys.getenv)", 2)
    end
  end
  return env
end

function M.load(opts)
  opts = opts or {}
  local env = injected(opts)
  local function nonempty(name)
    local v = env.getenv(name)
    return v ~= nil and v ~= "" and v or nil
  end

  if opts.kubeconfig then
    local docs, err = read_kubeconfigs(env, { { path = opts.kubeconfig } })
    if not docs then return nil, err end
    return from_kubeconfig(env, docs, opts.kubeconfig, opts.context)
  end

  local list = nonempty("KUBECONFIG")
  if list then
    local files = {}
    for path in list:gmatch("[^:]+") do files[#files + 1] = { path = path, optional = true } end
    local docs, err = read_kubeconfigs(env, files)
    if not docs then return nil, err end
    if #docs == 0 then
      return nil, string.format("KUBECONFIG=%s: none of these files exists", list)
    end
    return from_kubeconfig(env, docs, list, opts.context)
  end

  local host, port = nonempty("KUBERNETES_SERVICE_HOST"), nonempty("KUBERNETES_SERVICE_PORT")
  if host and port then return in_cluster(env, host, port) end

  local home = nonempty("HOME")
  if home then
    local path = home .. "/.kube/config"
    local docs, err = read_kubeconfigs(env, { { path = path, optional = true } })
    if not docs then return nil, err end
    if #docs > 0 then return from_kubeconfig(env, docs, path, opts.context) end
  end
  return nil, "no Kubernetes configuration: no --kubeconfig given, KUBECONFIG is not set, " ..
    "not in a cluster (KUBERNETES_SERVICE_HOST is not set), and " ..
    (home and (home .. "/.kube/config does not exist") or "HOME is not set")
end

return M
