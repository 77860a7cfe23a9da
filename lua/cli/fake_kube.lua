-- `smop fake-kube [--listen 127.0.0.1:PORT] [--crds DIR|FILE...] [--kubeconfig-out FILE]`:
-- serve the fake Kubernetes API (lua/fake/kube) over HTTPS on loopback, with
-- a CA and a bearer token made at start, until SIGINT or SIGTERM.
--
-- stdout: the server URL on the first line, then "kubeconfig: FILE" when
-- one was written. Exit codes: 0 after a signal, 2 usage, 1 anything else
-- (a CRD file that does not load, a port in use).
local kube = require("fake.kube")
local log = require("smop.log")
local server = require("smop.server")
local tls = require("smop.tls")
local yaml = require("smop.yaml")
local json = require("smop.json")

local M = {}

local USAGE = "usage: smop fake-kube [--listen 127.0.0.1:PORT] [--crds DIR|FILE ...] "
  .. "[--kubeconfig-out FILE] [--token TOKEN]"

local LOOPBACK = { ["127.0.0.1"] = true, ["::1"] = true, localhost = true }

local function parse_listen(s)
  local host, port = s:match("^%[([^%]]+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:]+):(%d+)$") end
  if not host then
    host, port = "127.0.0.1", s:match("^:?(%d+)$")
  end
  port = tonumber(port)
  if not port or port > 65535 then return nil, "--listen wants HOST:PORT, e.g. 127.0.0.1:6443" end
  if not LOOPBACK[host] then
    return nil, "--listen: the fake serves loopback only (127.0.0.1, ::1 or localhost), not " .. host
  end
  if host == "localhost" then host = "127.0.0.1" end
  return host, port
end

local function parse_args(args)
  local opts = { crds = {} }
  local i = 1
  while i <= #args do
    local a = args[i]
    local flag, inline = a:match("^(%-%-[%w%-]+)=(.*)$")
    flag = flag or a
    local function value()
      local v = inline or args[i + 1]
      if v == nil or v == "" then return nil end
      i = i + (inline and 1 or 2)
      return v
    end
    if flag == "--listen" then
      opts.listen = value()
      if not opts.listen then return nil, "--listen needs a value" end
    elseif flag == "--kubeconfig-out" then
      opts.kubeconfig = value()
      if not opts.kubeconfig then return nil, "--kubeconfig-out needs a value" end
    elseif flag == "--token" then
      opts.token = value()
      if not opts.token then return nil, "--token needs a value" end
    elseif flag == "--crds" then
      local v = value()
      if not v then return nil, "--crds needs a directory or file" end
      opts.crds[#opts.crds + 1] = v
      -- a shell glob (--crds crds/*.yaml) expands into several paths
      while args[i] and args[i]:sub(1, 2) ~= "--" do
        opts.crds[#opts.crds + 1] = args[i]
        i = i + 1
      end
    elseif flag == "--help" or flag == "-h" then
      opts.help = true
      i = i + 1
    else
      return nil, "unknown argument " .. a
    end
  end
  return opts
end

local function is_yaml(name)
  return name:match("%.ya?ml$") ~= nil
end

-- The YAML files a --crds path stands for: the file itself, or a
-- directory's *.yaml / *.yml (sorted).
local function crd_files(sys, path)
  local text = sys.read_file(path)
  if text then return { path } end
  if sys.list_dir then
    local names, err = sys.list_dir(path)
    if not names then return nil, err end
    local files = {}
    for _, n in ipairs(names) do
      if is_yaml(n) then files[#files + 1] = path .. "/" .. n end
    end
    table.sort(files)
    return files
  end
  -- Without directory listing, a kustomization.yaml names the files.
  local kust = sys.read_file(path .. "/kustomization.yaml") or sys.read_file(path .. "/kustomization.yml")
  if kust then
    local doc = yaml.decode(kust)
    local files = {}
    for _, r in ipairs(type(doc) == "table" and doc.resources or {}) do
      if type(r) == "string" and is_yaml(r) then files[#files + 1] = path .. "/" .. r end
    end
    return files
  end
  return nil, path .. ": not a readable file, and this smop cannot list directories (give the "
    .. "files, e.g. --crds " .. path .. "/*.yaml, or add a kustomization.yaml)"
end

local function load_crds(sys, app, paths)
  local total = 0
  for _, path in ipairs(paths) do
    local files, ferr = crd_files(sys, path)
    if not files then return nil, ferr end
    for _, file in ipairs(files) do
      local text, rerr = sys.read_file(file)
      if not text then return nil, file .. ": " .. tostring(rerr) end
      local docs, yerr = yaml.decode_all(text)
      if not docs then return nil, file .. ": " .. tostring(yerr) end
      local n, errs = app:load_crds(docs)
      if #errs > 0 then return nil, file .. ": " .. table.concat(errs, "; ") end
      total = total + n
    end
  end
  return total
end

local function b64(s)
  local B = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    out[#out + 1] = string.char(B:byte((n >> 18) + 1), B:byte(((n >> 12) & 63) + 1),
      b and B:byte(((n >> 6) & 63) + 1) or 61, c and B:byte((n & 63) + 1) or 61)
  end
  return table.concat(out)
end

-- A kubeconfig for url, trusting ca_pem, authenticating with token.
function M.kubeconfig(url, ca_pem, token)
  local A = json.array
  return {
    apiVersion = "v1", kind = "Config",
    clusters = A({ { name = "smop-fake-kube",
      cluster = { server = url, ["certificate-authority-data"] = b64(ca_pem) } } }),
    users = A({ { name = "smop-fake-kube", user = { token = token } } }),
    contexts = A({ { name = "smop-fake-kube",
      context = { cluster = "smop-fake-kube", user = "smop-fake-kube", namespace = "default" } } }),
    ["current-context"] = "smop-fake-kube",
    preferences = json.object({}),
  }
end

local function write_kubeconfig(sys, path, url, ca_pem, token)
  local cfg = M.kubeconfig(url, ca_pem, token)
  local text, err
  if path:match("%.json$") then
    text, err = json.encode(cfg, { indent = 2, sorted = true })
    if text then text = text .. "\n" end
  else
    text, err = yaml.encode(cfg)
  end
  if not text then return nil, err end
  local ok, werr = sys.write_file(path .. ".tmp", text, "w", true)   -- it holds the token
  if not ok then return nil, werr end
  return sys.rename(path .. ".tmp", path)
end

function M.run(sys, args)
  local opts, perr = parse_args(args)
  if not opts then
    sys.stderr("smop fake-kube: " .. perr .. "\n" .. USAGE .. "\n")
    return 2
  end
  if opts.help then
    sys.stdout(USAGE .. "\n")
    return 0
  end
  local host, port = parse_listen(opts.listen or "127.0.0.1:0")
  if not host then
    sys.stderr("smop fake-kube: " .. port .. "\n")
    return 2
  end
  local ca, cerr = tls.new_ca({ common_name = "smop fake-kube CA", days = 365 })
  local cert
  if ca then
    cert, cerr = tls.new_cert({ ca = ca, common_name = "localhost", dns = { "localhost" },
      ip = { "127.0.0.1", "::1" }, days = 365 })
  end
  if not cert then
    sys.stderr("smop fake-kube: " .. tostring(cerr) .. "\n")
    return 1
  end
  local token = opts.token or assert(tls.random_hex(32))
  local app = kube.new({ token = token })
  local n, lerr = load_crds(sys, app, opts.crds)
  if not n then
    sys.stderr("smop fake-kube: --crds " .. lerr .. "\n")
    return 1
  end
  local srv, serr = server.listen({
    host = host, port = port, tls = { cert = cert.cert, key = cert.key },
    max_body = 2 * kube.MAX_BODY,
    handler = function(req) return app:handle(req) end,
  })
  if not srv then
    sys.stderr("smop fake-kube: " .. tostring(serr) .. "\n")
    return 1
  end
  local authority = (host:find(":", 1, true) and ("[" .. host .. "]") or host) .. ":" .. srv.port
  local url = "https://" .. authority
  app.address = authority
  if opts.kubeconfig then
    local ok, werr = write_kubeconfig(sys, opts.kubeconfig, url, ca.cert, token)
    if not ok then
      srv:close()
      sys.stderr("smop fake-kube: --kubeconfig-out " .. opts.kubeconfig .. ": " .. tostring(werr) .. "\n")
      return 1
    end
  end
  sys.stdout(url .. "\n")
  if opts.kubeconfig then sys.stdout("kubeconfig: " .. opts.kubeconfig .. "\n") end
  log.info("fake-kube serving", { url = url, crds = n, kubeconfig = opts.kubeconfig })
  local sig = sys.wait_signal()
  log.info("fake-kube stopping", { signal = sig })
  srv:close()
  return 0
end

return M
