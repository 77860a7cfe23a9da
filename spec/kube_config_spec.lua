-- kube.config: kubeconfig files, KUBECONFIG merging, in-cluster config and
-- ~/.kube/config, with the fixtures in spec/fixtures/kube/config.
local config = require("kube.config")

local DIR = "spec/fixtures/kube/config"

-- As sys.read_file answers: text, or nil, "path: reason".
local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return text
end

local function slurp(path)
  return assert(read_file(path))
end

local function load(opts)
  opts.read_file = opts.read_file or read_file
  opts.env = opts.env or {}
  opts.serviceaccount_dir = opts.serviceaccount_dir or (DIR .. "/serviceaccount")
  return config.load(opts)
end

describe("kube.config", function()
  describe("a kubeconfig file", function()
    it("reads the current context: server, token, CA data and namespace", function()
      local cfg = assert(load({ kubeconfig = DIR .. "/token.yaml" }))
      assert.are.equal("https://127.0.0.1:6443", cfg.server)
      assert.are.equal("dev-token-123", cfg.token)
      assert.is_nil(cfg.token_file)
      assert.are.equal(slurp(DIR .. "/ca.crt"), cfg.ca_pem)
      assert.is_nil(cfg.client_cert_pem)
      assert.are.equal("team-a", cfg.namespace)
      assert.are.equal("dev", cfg.context)
      assert.are.equal("kubeconfig " .. DIR .. "/token.yaml context dev", cfg.source)
    end)

    it("takes another context, with files named relative to the kubeconfig", function()
      local cfg = assert(load({ kubeconfig = DIR .. "/token.yaml", context = "prod" }))
      assert.are.equal("https://prod.example.com", cfg.server)
      assert.are.equal(slurp(DIR .. "/ca.crt"), cfg.ca_pem)
      assert.are.equal(slurp(DIR .. "/client.crt"), cfg.client_cert_pem)
      assert.are.equal(slurp(DIR .. "/client.key"), cfg.client_key_pem)
      assert.is_nil(cfg.token)
      assert.are.equal("default", cfg.namespace)
    end)

    it("decodes client certificate and key data", function()
      local cfg = assert(load({ kubeconfig = DIR .. "/certs-data.yaml" }))
      assert.are.equal("https://127.0.0.1:35000", cfg.server)
      assert.are.equal(slurp(DIR .. "/client.crt"), cfg.client_cert_pem)
      assert.are.equal(slurp(DIR .. "/client.key"), cfg.client_key_pem)
      assert.matches("^%-%-%-%-%-BEGIN CERTIFICATE", cfg.ca_pem)
    end)

    it("reads a tokenFile and keeps its path and reader for rotation", function()
      local cfg = assert(load({ kubeconfig = DIR .. "/tokenfile.yaml" }))
      assert.are.equal("file-token-abc", cfg.token)
      assert.are.equal(DIR .. "/token.txt", cfg.token_file)
      assert.are.equal(read_file, cfg.read_file)
      assert.are.equal("http://127.0.0.1:8080", cfg.server)
    end)

    it("names the file and the context that is missing", function()
      local cfg, err = load({ kubeconfig = DIR .. "/token.yaml", context = "foo" })
      assert.is_nil(cfg)
      assert.are.equal("kubeconfig " .. DIR .. '/token.yaml: context "foo" not found', err)
      cfg, err = load({ kubeconfig = DIR .. "/token.yaml", context = "broken" })
      assert.is_nil(cfg)
      assert.are.equal("kubeconfig " .. DIR .. '/token.yaml: context "broken" refers to ' ..
        'cluster "nowhere", which is not defined', err)
    end)

    it("says when the file is missing or is not YAML", function()
      local cfg, err = load({ kubeconfig = "/nonexistent/kubeconfig" })
      assert.is_nil(cfg)
      assert.are.equal("kubeconfig /nonexistent/kubeconfig: No such file or directory", err)
      cfg, err = load({ kubeconfig = DIR .. "/bad.yaml" })
      assert.is_nil(cfg)
      assert.matches("^kubeconfig " .. DIR:gsub("%p", "%%%0") .. "/bad%.yaml: ", err)
    end)

    it("refuses insecure-skip-tls-verify and basic auth", function()
      local cfg, err = load({ kubeconfig = DIR .. "/insecure.yaml" })
      assert.is_nil(cfg)
      assert.are.equal("kubeconfig " .. DIR .. '/insecure.yaml: cluster "x": ' ..
        "insecure-skip-tls-verify is not supported (smop always verifies the server); " ..
        "give certificate-authority-data instead", err)
    end)
  end)

  describe("exec credential plugins", function()
    it("are refused with a clear message when smop cannot run processes", function()
      local cfg, err = load({ kubeconfig = DIR .. "/exec.yaml" })
      assert.is_nil(cfg)
      assert.are.equal("kubeconfig " .. DIR .. '/exec.yaml: user "eks-user": exec credential ' ..
        'plugins (command "aws") are not supported here: smop cannot run processes; use a ' ..
        "token, tokenFile or client certificates (e.g. a service-account token)", err)
    end)

    it("run through an injected run(), speaking ExecCredential v1", function()
      local seen
      local function run(command, args, env)
        seen = { command = command, args = args, env = env }
        return '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",' ..
          '"status":{"token":"k8s-aws-v1.abc","expirationTimestamp":"2030-01-01T00:00:00Z"}}'
      end
      local cfg = assert(load({ kubeconfig = DIR .. "/exec.yaml", run = run }))
      assert.are.equal("k8s-aws-v1.abc", cfg.token)
      assert.are.equal("2030-01-01T00:00:00Z", cfg.token_expires)
      assert.are.equal("aws", seen.command)
      assert.are.same({ "eks", "get-token", "--cluster-name", "prod" }, seen.args)
      assert.are.equal("prod", seen.env.AWS_PROFILE)
      assert.matches('"kind":"ExecCredential"', seen.env.KUBERNETES_EXEC_INFO)
      assert.matches('"interactive":false', seen.env.KUBERNETES_EXEC_INFO)
    end)

    it("report a plugin that fails or prints no credential", function()
      local cfg, err = load({ kubeconfig = DIR .. "/exec.yaml",
        run = function() return nil, "exit status 255" end })
      assert.is_nil(cfg)
      assert.are.equal("kubeconfig " .. DIR .. '/exec.yaml: user "eks-user": exec aws: ' ..
        "exit status 255", err)
      cfg, err = load({ kubeconfig = DIR .. "/exec.yaml", run = function() return "{}" end })
      assert.is_nil(cfg)
      assert.matches("did not print an ExecCredential", err)
    end)
  end)

  describe("KUBECONFIG", function()
    it("merges a list like kubectl: the first file to set a name wins", function()
      local list = "/nonexistent.yaml:" .. DIR .. "/merge-first.yaml:" .. DIR .. "/merge-second.yaml"
      local cfg = assert(load({ env = { KUBECONFIG = list } }))
      assert.are.equal("first", cfg.context)
      assert.are.equal("https://first.example.com", cfg.server)
      assert.are.equal("second-token", cfg.token) -- the user only the second file has
      assert.are.equal("kubeconfig " .. DIR .. "/merge-first.yaml context first", cfg.source)
      cfg = assert(load({ env = { KUBECONFIG = list }, context = "second" }))
      assert.are.equal("https://first.example.com", cfg.server) -- "shared" of the first file
      assert.are.equal("from-second", cfg.namespace)
    end)

    it("says so when none of its files exists", function()
      local cfg, err = load({ env = { KUBECONFIG = "/nope/a:/nope/b" } })
      assert.is_nil(cfg)
      assert.are.equal("KUBECONFIG=/nope/a:/nope/b: none of these files exists", err)
    end)

    it("loses to an explicit kubeconfig, and wins over in-cluster", function()
      local env = { KUBECONFIG = DIR .. "/merge-first.yaml:" .. DIR .. "/merge-second.yaml",
        KUBERNETES_SERVICE_HOST = "10.96.0.1", KUBERNETES_SERVICE_PORT = "443" }
      local cfg = assert(load({ env = env, kubeconfig = DIR .. "/token.yaml" }))
      assert.are.equal("dev", cfg.context)
      cfg = assert(load({ env = env }))
      assert.are.equal("first", cfg.context)
    end)
  end)

  describe("in-cluster", function()
    local env = { KUBERNETES_SERVICE_HOST = "10.96.0.1", KUBERNETES_SERVICE_PORT = "443",
      HOME = DIR .. "/home" }

    it("uses the service account's token, CA and namespace", function()
      local cfg = assert(load({ env = env }))
      assert.are.equal("https://10.96.0.1:443", cfg.server)
      assert.are.equal("sa-token-1", cfg.token)
      assert.are.equal(DIR .. "/serviceaccount/token", cfg.token_file)
      assert.are.equal(read_file, cfg.read_file)
      assert.are.equal(slurp(DIR .. "/ca.crt"), cfg.ca_pem)
      assert.are.equal("sagemaker-k8s-operator-system", cfg.namespace)
      assert.are.equal("in-cluster", cfg.source)
    end)

    it("brackets an IPv6 service host", function()
      local cfg = assert(load({ env = { KUBERNETES_SERVICE_HOST = "fd00::1",
        KUBERNETES_SERVICE_PORT = "443" } }))
      assert.are.equal("https://[fd00::1]:443", cfg.server)
    end)

    it("names the token file that is missing", function()
      local cfg, err = config.load({ env = env, read_file = read_file })
      assert.is_nil(cfg)
      assert.are.equal("in-cluster: /var/run/secrets/kubernetes.io/serviceaccount/token: " ..
        "No such file or directory", err)
    end)
  end)

  describe("~/.kube/config", function()
    it("is the last resort", function()
      local cfg = assert(load({ env = { HOME = DIR .. "/home" } }))
      assert.are.equal("https://home.example.com:6443", cfg.server)
      assert.are.equal("home-token", cfg.token)
      assert.are.equal("kubeconfig " .. DIR .. "/home/.kube/config context home", cfg.source)
    end)

    it("and without it, the error says everything that was tried", function()
      local cfg, err = load({ env = { HOME = "/nonexistent-home" } })
      assert.is_nil(cfg)
      assert.are.equal("no Kubernetes configuration: no --kubeconfig given, KUBECONFIG is not " ..
        "set, not in a cluster (KUBERNETES_SERVICE_HOST is not set), and " ..
        "/nonexistent-home/.kube/config does not exist", err)
    end)
  end)

  it("needs read_file and getenv to be given", function()
    assert.has_error(function() config.load({ kubeconfig = DIR .. "/token.yaml" }) end,
      "kube.config.load: no read_file given (pass sys.read_file)")
    assert.has_error(function() config.load({ read_file = read_file }) end,
      "kube.config.load: no getenv or env given (pass sys.getenv)")
    local cfg = assert(config.load({ read_file = read_file,
      getenv = function(name) return name == "HOME" and (DIR .. "/home") or nil end }))
    assert.are.equal("home", cfg.context)
  end)

  it("decodes base64 with or without padding and whitespace", function()
    assert.are.equal("hello world", config.unbase64("aGVsbG8gd29y\nbGQ="))
    assert.are.equal("hi", config.unbase64("aGk"))
    assert.is_nil(config.unbase64("a$b="))
  end)
end)
