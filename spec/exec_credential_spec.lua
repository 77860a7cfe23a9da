-- Exec credential plugins in the CLI: sys.run (the host side, through a
-- command script loaded with --scripts-dir, since only CLI commands get the
-- sys table), kube.config's and kube.client's handling of the plugin, and
-- `smop run` authenticating to `smop fake-kube` with the token a kubeconfig
-- exec plugin prints.
local client = require("kube.client")
local config = require("kube.config")
local dev = require("spec.support.dev")
local fake_kube = require("spec.support.fake_kube")
local json = require("smop.json")
local server = require("smop.server")
local smop = require("spec.support.smop")
local task = require("smop.task")

local CRD = "crds"   -- all eight: the operator runs every kind

-- Runs `body` (Lua statements with `sys` and `show(...)` in scope) as the
-- `version` command; returns what it printed, its stderr and exit code.
-- show prints its arguments on one line, separated by "|".
local function run_command(body)
  local dir = smop.tempdir()
  os.execute("mkdir -p " .. smop.quote(dir .. "/cli"))
  smop.write(dir .. "/cli/version.lua", [[
    local task = require("smop.task")
    return { run = function(sys)
      local function show(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        sys.stdout(table.concat(t, "|") .. "\n")
      end
    ]] .. body .. [[
      return 0
    end }
  ]])
  local out, err, code = smop.run({ "--scripts-dir", dir, "version" })
  os.execute("rm -rf " .. smop.quote(dir))
  return out, err, code
end

describe("sys.run", function()
  it("returns what the program printed, with the given variables added", function()
    local out, err, code = run_command([[
      show(sys.run("/bin/sh", { "-c", 'printf "%s:%s" "$SMOP_T" "$HOME"' }, { SMOP_T = "a b" }))
      show(sys.run("printf", { "%s,", "one", "two" }))
      show(sys.run("sh", { "-c", "cat; echo end" }))   -- stdin is empty, not ours
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("a b:" .. os.getenv("HOME") .. "\none,two,\nend\n\n", out)
  end)

  it("gives the program none of our descriptors beyond stdin, stdout and stderr", function()
    local out, err, code = run_command([[
      local server = require("smop.server")
      local srv = assert(server.listen({ handler = function() return 200, {}, "ok" end }))
      assert(require("smop.http").request({ url = srv.url .. "/" }))   -- a kept-alive socket
      show(sys.run("sh", { "-c", "ls /proc/$$/fd" }))
      srv:close()
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("0\n1\n2\n\n", out)
  end)

  it("reports a failing program with its status and the end of its stderr on one line", function()
    local out, err, code = run_command([[
      show(sys.run("sh", { "-c",
        "echo partial; echo 'no credentials' >&2; echo ' try aws configure' >&2; exit 3" }))
      show(sys.run("sh", { "-c", "exit 1" }))
      show(sys.run("sh", { "-c", "kill -9 $$" }))
      local long = select(2, sys.run("sh", { "-c", "yes x | head -c 5000 >&2; echo LAST >&2; exit 2" }))
      show(#long < 1100, long:sub(1, 18), long:sub(-8))
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("nil|exit status 3: no credentials try aws configure|exit\n"
      .. "nil|exit status 1|exit\n"
      .. "nil|killed by signal 9|signal\n"
      .. "true|exit status 2: ...|x x LAST\n", out)
  end)

  it("kills a program that runs past the timeout, with the children it started", function()
    local marker = os.tmpname()
    local out, err, code = run_command(string.format([[
      show(sys.run("sh", { "-c", "(sleep 30; touch %s) & echo started; sleep 30" }, nil,
        { timeout = 0.5 }))
    ]], marker))
    os.remove(marker)
    assert.are.equal(0, code, err)
    assert.are.equal("nil|timed out after 0.5 s|timeout\n", out)
    -- the background sleep held stdout open: had it survived, the call
    -- would have waited for it; and no process is left behind
    local ps = fake_kube.run("ps -eo args")
    assert.is_falsy(ps:find("touch " .. marker, 1, true), ps)
  end)

  it("kills the program when its task is abandoned (the command ends first)", function()
    local marker = os.tmpname()
    local out, err, code = run_command(string.format([[
      task.spawn(function() sys.run("sh", { "-c", "sleep 30; touch %s" }) end)
      task.sleep(0.3)
      show("leaving")
    ]], marker))
    assert.are.equal(0, code, err)
    assert.are.equal("leaving\n", out)
    local ps = fake_kube.run("ps -eo args")
    os.remove(marker)
    assert.is_falsy(ps:find("touch " .. marker, 1, true), ps)
  end)

  it("stops a program that prints more than 1 MiB", function()
    local out, err, code = run_command([[
      show(sys.run("sh", { "-c", "head -c 1048576 /dev/zero" }) ~= nil)
      show(sys.run("sh", { "-c", "head -c 1048577 /dev/zero; sleep 30" }))
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("true\nnil|printed more than 1 MiB on stdout|output\n", out)
  end)

  it("tells a missing program from one it cannot start", function()
    local out, err, code = run_command([[
      show(sys.run("smop-no-such-plugin"))
      show(sys.run("/nonexistent/smop-plugin"))
      show(sys.run("/etc/passwd"))
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("nil|not found in PATH|notfound\nnil|no such file|notfound\n"
      .. "nil|permission denied|spawn\n", out)
  end)

  it("yields: other tasks run while it waits", function()
    local out, err, code = run_command([[
      local ticks = 0
      task.spawn(function()
        for _ = 1, 3 do task.sleep(0.05) ticks = ticks + 1 end
      end)
      show(sys.run("sh", { "-c", "sleep 0.5; echo done" }), ticks)
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("done\n|3\n", out)
  end)

  it("refuses bad arguments as bugs", function()
    local out, err, code = run_command([[
      show(pcall(sys.run, "sh", { "-c", 1 }))
      show(pcall(sys.run, "sh", nil, { ["A=B"] = "x" }))
      show(pcall(sys.run, "sh", nil, nil, { timout = 1 }))
      show(pcall(sys.run, "sh", nil, nil, { timeout = 0 }))
      show(pcall(sys.run, "a\0b"))
      local ok, e = pcall(string.gsub, "x", "x", function() sys.run("true") end)
      show(ok, e:match("sys%.run.*$"))
    ]])
    assert.are.equal(0, code, err)
    assert.are.equal("false|sys.run: each argument must be a string\n"
      .. "false|sys.run: environment variable name 'A=B' is empty or has '='\n"
      .. "false|sys.run: unknown option timout\n"
      .. "false|sys.run: timeout must be a number of seconds in (0, 86400]\n"
      .. "false|sys.run: command contains a NUL byte\n"
      .. "false|sys.run cannot wait here (called through C, e.g. from a metamethod)\n", out)
  end)
end)

describe("kube.config exec plugins", function()
  local function read_file(path)
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local text = f:read("a")
    f:close()
    return text
  end

  local function with_user(user_yaml)
    local dir = smop.tempdir()
    local path = dir .. "/kubeconfig"
    smop.write(path, table.concat({
      "apiVersion: v1", "kind: Config", "current-context: c",
      "clusters: [{ name: k, cluster: { server: 'https://127.0.0.1:6443' } }]",
      "contexts: [{ name: c, context: { cluster: k, user: u } }]",
      "users:", "- name: u", "  user:", user_yaml }, "\n") .. "\n")
    return dir, path
  end

  it("resolve a command with a slash against the kubeconfig's directory", function()
    local dir, path = with_user(table.concat({
      "    exec:", "      apiVersion: client.authentication.k8s.io/v1", "      command: ./bin/plugin",
      "      interactiveMode: Never" }, "\n"))
    local seen
    local cfg = config.load({ kubeconfig = path, read_file = read_file, env = {},
      run = function(command)
        seen = command
        return '{"kind":"ExecCredential","status":{"token":"t"}}'
      end })
    os.execute("rm -rf " .. smop.quote(dir))
    assert.are.equal(dir .. "/bin/plugin", seen)
    assert.are.equal(dir .. "/bin/plugin", cfg.exec.command)
  end)

  it("show the installHint when the command is not found", function()
    local dir, path = with_user(table.concat({
      "    exec:", "      apiVersion: client.authentication.k8s.io/v1beta1", "      command: aws",
      "      installHint: |", "        Install the AWS CLI:", "          https://aws.amazon.com/cli/" },
      "\n"))
    local cfg, err = config.load({ kubeconfig = path, read_file = read_file, env = {},
      run = function() return nil, "not found in PATH", "notfound" end })
    os.execute("rm -rf " .. smop.quote(dir))
    assert.is_nil(cfg)
    assert.are.equal("kubeconfig " .. path .. ': user "u": exec aws: not found in PATH; is the '
      .. "credential plugin installed? Install the AWS CLI: https://aws.amazon.com/cli/", err)
  end)

  it("refuse interactiveMode Always and invalid env names before running anything", function()
    local ran = false
    local function run() ran = true end
    local dir, path = with_user(table.concat({
      "    exec:", "      apiVersion: client.authentication.k8s.io/v1", "      command: login",
      "      interactiveMode: Always" }, "\n"))
    local _, err = config.load({ kubeconfig = path, read_file = read_file, env = {}, run = run })
    os.execute("rm -rf " .. smop.quote(dir))
    assert.matches("exec login wants interactiveMode Always, but smop has no terminal", err, 1, true)
    dir, path = with_user(table.concat({
      "    exec:", "      apiVersion: client.authentication.k8s.io/v1", "      command: login",
      "      env: [{ name: 'A=B', value: x }]" }, "\n"))
    _, err = config.load({ kubeconfig = path, read_file = read_file, env = {}, run = run })
    os.execute("rm -rf " .. smop.quote(dir))
    assert.matches('exec env name "A=B" is not a valid variable name', err, 1, true)
    assert.is_false(ran)
  end)
end)

describe("kube.client with an exec credential", function()
  local function rfc3339(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

  it("renews an informer's token in a task of its own: the plugin yields", function()
    local PATH = "/apis/sagemaker.aws.amazon.com/v1/trainingjobs"
    local current, watches, runs = "t1", {}, 0
    local cond = task.condition()
    local function handler(req)
      if req.headers.authorization ~= "Bearer " .. current then
        return 401, { ["Content-Type"] = "application/json" }, json.encode({ kind = "Status",
          apiVersion = "v1", status = "Failure", reason = "Unauthorized", code = 401 })
      end
      if not req.args.watch then
        return 200, { ["Content-Type"] = "application/json" }, json.encode({
          items = json.array({ { metadata = { name = "a", namespace = "default",
            resourceVersion = "5", uid = "u1" } } }), metadata = { resourceVersion = "5" } })
      end
      watches[#watches + 1] = req.headers.authorization
      local w = req:stream(200, { ["Content-Type"] = "application/json" })
      if #watches > 1 then
        w:write(json.encode({ type = "ADDED", object = { metadata = { name = "b",
          namespace = "default", resourceVersion = "6", uid = "u2" } } }) .. "\n")
      end
      cond:wait(10)   -- held open until the spec ends it
    end
    -- like sys.run, it yields; the token it gives is good for an hour
    local function run()
      task.sleep(0.01)
      runs = runs + 1
      return json.encode({ kind = "ExecCredential", status = { token = "t2",
        expirationTimestamp = rfc3339(os.time() + 3600) } })
    end
    task.run(function()
      local srv = assert(server.listen({ handler = handler }))
      local ok, err = pcall(function()
        -- t1 expires within the minute: due for renewal from the start
        local kc = client.new({ server = srv.url, token = "t1", token_expires = rfc3339(os.time() + 30),
          exec = { apiVersion = "client.authentication.k8s.io/v1", command = "plugin" }, run = run })
        local inf = assert(kc:informer({ path = PATH, backoff = { base = 0.001, max = 0.01 } }))
        assert.are.equal("default/a", assert(inf:next()).key)
        while #watches < 1 or runs < 1 do task.sleep(0.005) end
        assert.are.equal("Bearer t1", watches[1])
        current = "t2"          -- t1 is refused from now on
        cond:notify_all()       -- the first watch ends; re-watching with t1 gets 401
        assert.are.equal("default/b", assert(inf:next()).key)
        assert.are.equal("Bearer t2", watches[#watches])
        assert.are.equal(1, runs)
        inf:close()
      end)
      cond:notify_all()
      srv:close()
      assert(ok, err)
    end)
  end)
end)

describe("smop run with an exec credential plugin", function()
  local function curl_status(url)
    return tonumber((fake_kube.run("curl -s -o /dev/null -w '%{http_code}' " .. smop.quote(url))))
  end

  -- fk's kubeconfig with its token replaced by an exec plugin: a script
  -- printing an ExecCredential with the token in $FAKE_TOKEN (from the
  -- kubeconfig's env), or failing when `fail` is set.
  local function exec_kubeconfig(fk, fail)
    local plugin = fk.dir .. "/plugin.sh"
    local script = fail and "#!/bin/sh\necho 'plugin: the session expired' >&2\nexit 1\n"
      or ("#!/bin/sh\nprintf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
        .. "\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' \"$FAKE_TOKEN\"\n")
    smop.write(plugin, script)
    assert(os.execute("chmod +x " .. smop.quote(plugin)))
    local kc, n = fake_kube.slurp(fk.kubeconfig):gsub("\n    token: %x+\n", table.concat({
      "", "    exec:", "      apiVersion: client.authentication.k8s.io/v1",
      "      command: " .. plugin, "      args: [--cluster, fake]",
      "      env: [{ name: FAKE_TOKEN, value: '" .. fk.token .. "' }]",
      "      interactiveMode: Never", "" }, "\n"))
    assert.are.equal(1, n, "no token line in the fake's kubeconfig")
    local path = fk.dir .. "/exec-kubeconfig"
    smop.write(path, kc)
    return path, plugin
  end

  it("authenticates with the token the plugin prints and becomes ready", function()
    local fk = fake_kube.start({ crds = { CRD } })
    local op
    finally(function()
      if op then op.kill() end
      fk.stop()
    end)
    local kubeconfig = exec_kubeconfig(fk)
    op = dev.run_operator({ "--kubeconfig", kubeconfig, "--metrics-addr", "127.0.0.1:0" })
    local probes = op.wait_log("probes=(http://127%.0%.0%.1:%d+)")
    local status
    for _ = 1, 300 do
      status = curl_status(probes .. "/readyz")
      if status == 200 then break end
      os.execute("sleep 0.1")
    end
    assert.are.equal(200, status, op.log())
    assert.are.equal(0, op.kill("TERM"))
  end)

  it("stops the start with one line naming the plugin and why it failed", function()
    local fk = fake_kube.start({ crds = { CRD } })
    finally(function() fk.stop() end)
    local kubeconfig, plugin = exec_kubeconfig(fk, true)
    local _, err, code = smop.run({ "run", "--kubeconfig", kubeconfig, "--metrics-addr", "off" })
    assert.are.equal(1, code)
    assert.are.equal("smop run: no usable Kubernetes configuration: kubeconfig " .. kubeconfig
      .. ': user "smop-fake-kube": exec ' .. plugin .. ": exit status 1: plugin: the session "
      .. "expired\n", err)
  end)
end)
