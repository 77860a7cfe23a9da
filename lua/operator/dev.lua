-- The local sandbox: fake-kube, fake-aws and the operator in one process,
-- on one event loop (they are all Lua apps; nothing is spawned). `smop dev`
-- prints how to reach it; the operator specs use it in-process.
--
--   local dev = require("operator.dev")
--   local sb = assert(dev.start{ crds = { decoded CRD documents... },
--     kube_port = 0, aws_port = 0, aws_speed = 1, poll_interval = 2,
--     probe_port = nil (no probe server) | 0, token = nil (random),
--     leader_elect = false,     -- true: hold the Lease in NAMESPACE, as `smop run --leader-elect`
--     scripts_configmap = nil | { namespace =, name = } })   -- a live script set
--   sb.kube_url, sb.aws_url, sb.ca_pem, sb.token, sb.kube_app, sb.aws_app,
--   sb.client (a kube.client for the fake), sb.op (the operator), sb.kubeconfig() (a table)
--   sb:restart_kube()   (specs: the API server drops everything and comes back)
--   sb:stop()
--
-- The operator runs as if installed in the namespace
-- sagemaker-k8s-operator-system (created in the fake), cluster-scoped: it
-- watches every namespace. It talks to both fakes over real HTTP(S), with
-- the same code paths as in a cluster: the fake-kube's CA and token, and
-- the fake-aws's example credentials.
local fake_aws = require("fake.aws")
local fake_kube = require("fake.kube")
local encoding = require("util.encoding")
local kube_client = require("kube.client")
local leader = require("operator.leader")
local log = require("smop.log")
local operator = require("operator")
local server = require("smop.server")
local tls = require("smop.tls")

local M = {}

M.NAMESPACE = "sagemaker-k8s-operator-system"
M.ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
M.SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

local Sandbox = {}
Sandbox.__index = Sandbox

local function fail(sb, err)
  sb:stop()
  return nil, err
end

-- Serves the fake Kubernetes API over HTTPS with a fresh CA and token.
local function start_kube(sb, opts)
  local ca, err = tls.new_ca({ common_name = "smop dev CA", days = 30 })
  local cert
  if ca then
    cert, err = tls.new_cert({ ca = ca, common_name = "localhost", dns = { "localhost" },
      ip = { "127.0.0.1" }, days = 30 })
  end
  if not cert then return nil, "fake-kube certificate: " .. tostring(err) end
  sb.token = opts.token or assert(tls.random_hex(32))
  sb.ca_pem = ca.cert
  local app = fake_kube.new({ token = sb.token })
  local n, errs = app:load_crds(opts.crds or {})
  if #errs > 0 then return nil, "CRDs: " .. table.concat(errs, "; ") end
  if n == 0 then return nil, "no CustomResourceDefinition among the CRD documents" end
  sb.kube_app, sb.kube_tls = app, { cert = cert.cert, key = cert.key }
  local ok, lerr = sb:listen_kube(opts.kube_port or 0)
  if not ok then return nil, lerr end
  sb.kube_url = "https://127.0.0.1:" .. sb.kube_server.port
  app.address = "127.0.0.1:" .. sb.kube_server.port
  return true
end

function Sandbox:listen_kube(port)
  local app = self.kube_app
  local srv, err = server.listen({ host = "127.0.0.1", port = port, tls = self.kube_tls,
    max_body = 2 * fake_kube.MAX_BODY, handler = function(req) return app:handle(req) end })
  if not srv then return nil, "fake-kube: " .. tostring(err) end
  self.kube_server = srv
  return true
end

-- For specs: the fake API server goes away (every connection dropped) and
-- comes back on the same port with the same objects, as a kube-apiserver
-- restart looks to its clients.
function Sandbox:restart_kube()
  local port = self.kube_server.port
  self.kube_server:close()
  return self:listen_kube(port)
end

local function start_aws(sb, opts)
  local app, err = fake_aws.new({ speed = opts.aws_speed or 1 })
  if not app then return nil, "fake-aws: " .. tostring(err) end
  local srv, serr = server.listen({ host = "127.0.0.1", port = opts.aws_port or 0,
    max_body = 2 * fake_aws.DEFAULT_MAX_BODY, handler = function(req) return app:handle(req) end })
  if not srv then return nil, "fake-aws: " .. tostring(serr) end
  sb.aws_app, sb.aws_server, sb.aws_url = app, srv, srv.url
  return true
end

function M.start(opts)
  opts = opts or {}
  local sb = setmetatable({}, Sandbox)
  local ok, err = start_kube(sb, opts)
  if not ok then return fail(sb, err) end
  ok, err = start_aws(sb, opts)
  if not ok then return fail(sb, err) end
  sb.client = kube_client.new({ server = sb.kube_url, token = sb.token, ca_pem = sb.ca_pem })
  local _, nerr = sb.client:create("/api/v1/namespaces",
    { apiVersion = "v1", kind = "Namespace", metadata = { name = M.NAMESPACE } })
  if nerr and nerr.code ~= 409 then return fail(sb, "namespace " .. M.NAMESPACE .. ": " .. tostring(nerr)) end
  local op, oerr = operator.start({
    kube = sb.client, kinds = opts.kinds, max_concurrent = opts.max_concurrent,
    poll_interval = opts.poll_interval or 2, error_interval = opts.error_interval or 30,
    status_refresh = opts.status_refresh, queue = opts.queue,
    aws = { endpoint_url = sb.aws_url,
      credentials = { access_key_id = M.ACCESS_KEY_ID, secret_access_key = M.SECRET_ACCESS_KEY } },
    listen = opts.probe_port and { host = "127.0.0.1", port = opts.probe_port } or nil,
    script_version = opts.script_version,
    instance = M.NAMESPACE .. "/smop-dev",
    scripts_configmap = opts.scripts_configmap,
    leader_election = opts.leader_elect and { kube = sb.client, namespace = M.NAMESPACE,
      name = leader.LEASE_NAME, identity = "smop-dev_" .. encoding.uuid() } or nil,
  })
  if not op then return fail(sb, "operator: " .. tostring(oerr)) end
  sb.op = op
  log.info("smop dev running", { kube = sb.kube_url, aws = sb.aws_url, namespace = M.NAMESPACE })
  return sb
end

-- A kubeconfig (a table) for the fake, trusting its CA, with its token.
function Sandbox:kubeconfig()
  return require("cli.fake_kube").kubeconfig(self.kube_url, self.ca_pem, self.token)
end

-- Stops the operator first (running syncs get a few seconds), then the fakes.
function Sandbox:stop(deadline)
  if self.op then self.op:stop(deadline or 5) end
  if self.aws_server then self.aws_server:close() end
  if self.kube_server then self.kube_server:close() end
  self.op, self.aws_server, self.kube_server = nil, nil, nil
end

return M
