-- smop.creds: the AWS credential chain as scripts see it. The HTTP sources run
-- against spec/support/creds_stub.py (STS, container agent, IMDSv2); each
-- test gives the provider its own environment through `env`, so nothing here
-- depends on (or touches) the environment of the process running the specs.
local creds = require("smop.creds")
local smop = require("spec.support.smop")
local task = require("smop.task")



local function lines(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  for line in f:lines() do out[#out + 1] = line end
  f:close()
  return out
end

-- The stub's log lines that start with prefix.
local function calls(stub, prefix)
  local out = {}
  for _, line in ipairs(lines(stub.state .. "/calls")) do
    if line:sub(1, #prefix) == prefix then out[#out + 1] = line end
  end
  return out
end

local function start_stub()
  local state = smop.tempdir()
  local pipe = assert(io.popen("exec python3 spec/support/creds_stub.py " .. smop.quote(state), "r"))
  local port, pid = (pipe:read("l") or ""):match("^(%d+) (%d+)$")
  assert(port, "spec/support/creds_stub.py did not start")
  local stub = { state = state, base = "http://127.0.0.1:" .. port }
  function stub.set(name, value)
    if value == nil then os.remove(state .. "/" .. name) else smop.write(state .. "/" .. name, value) end
  end
  function stub.stop()
    os.execute("kill " .. pid .. " 2>/dev/null")
    pipe:close()
    os.execute("rm -rf " .. smop.quote(state))
  end
  return stub
end

local function get(opts)
  return task.run(function() return creds.get(opts) end)
end

-- Lets credentials issued with a ttl of REFRESH_BEFORE + 1 seconds enter the
-- refresh window (creds.h: less than 300 s left). Not an assertion on time:
-- the spec only needs this much time to have passed.
local REFRESH_SOON = "301"
local function wait_for_refresh_window()
  task.run(function() task.sleep(2.1) end)
end

local SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

describe("smop.creds", function()
  local stub, dir

  setup(function()
    stub = start_stub()
    dir = smop.tempdir()
  end)

  teardown(function()
    stub.stop()
    os.execute("rm -rf " .. smop.quote(dir))
  end)

  before_each(function()
    stub.set("ttl", "3600")
    stub.set("fail", nil)
  end)

  describe("environment", function()
    it("returns the keys, with no expiration", function()
      local c = get({ env = { AWS_ACCESS_KEY_ID = "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY = SECRET,
        AWS_SESSION_TOKEN = "envtoken" } })
      assert.are.same({ access_key_id = "AKIDEXAMPLE", secret_access_key = SECRET,
        session_token = "envtoken", source = "environment" }, c)
    end)

    it("names the missing variable", function()
      local c, err = get({ env = { AWS_ACCESS_KEY_ID = "AKIDEXAMPLE" } })
      assert.is_nil(c)
      assert.are.equal("environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", err)
    end)

    it("must be called from a task, and checks its arguments", function()
      assert.has_error(function() creds.get({ env = {} }) end,
        "creds.get must be called from a task")
      assert.has_error(function() get({ env = { AWS_REGION = 1 } }) end)
      assert.has_error(function() get({ profile = 7 }) end)
      assert.has_error(function() get("default") end)
    end)
  end)

  describe("when nothing is configured", function()
    it("lists every source it tried", function()
      local c, err = get({ env = { HOME = dir .. "/nowhere", AWS_EC2_METADATA_DISABLED = "true" } })
      assert.is_nil(c)
      assert.are.equal("no AWS credentials: environment (AWS_ACCESS_KEY_ID not set), "
        .. "web identity (AWS_ROLE_ARN not set), "
        .. "profile default (no " .. dir .. "/nowhere/.aws/credentials, no "
        .. dir .. "/nowhere/.aws/config), "
        .. "container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
        .. "AWS_CONTAINER_CREDENTIALS_FULL_URI not set), "
        .. "IMDS (AWS_EC2_METADATA_DISABLED=true)", err)
    end)

    it("reports why IMDS, the last resort, failed", function()
      local c, err = get({ env = { AWS_EC2_METADATA_SERVICE_ENDPOINT = "http://127.0.0.1:1" } })
      assert.is_nil(c)
      assert.matches("^no AWS credentials: environment %(AWS_ACCESS_KEY_ID not set%), .*"
        .. ", IMDS %(PUT http://127%.0%.0%.1:1/latest/api/token: .+%)$", err)
    end)
  end)

  describe("profiles", function()
    local home

    setup(function()
      home = dir .. "/home"
      assert(os.execute("mkdir -p " .. smop.quote(home .. "/.aws")))
      smop.write(home .. "/.aws/credentials", table.concat({
        "[default]",
        "aws_access_key_id = AKIDDEFAULT",
        "aws_secret_access_key = " .. SECRET,
        "",
        "[dev]",
        "aws_access_key_id=AKIDDEV",
        "aws_secret_access_key=devsecret",
        "aws_session_token=devtoken",
        "",
      }, "\r\n"))
      smop.write(home .. "/.aws/config", table.concat({
        "[default]",
        "region = us-west-2",
        "s3 =",
        "    max_concurrent_requests = 20",
        "[profile dev]",
        "region = eu-central-1 ; comment",
        "[profile tools]",
        "credential_process = /usr/local/bin/creds",
        "",
      }, "\n"))
    end)

    it("reads the default profile, and AWS_PROFILE or an explicit one", function()
      local c = get({ env = { HOME = home } })
      assert.are.same({ access_key_id = "AKIDDEFAULT", secret_access_key = SECRET,
        source = "profile" }, c)
      c = get({ env = { HOME = home, AWS_PROFILE = "dev" } })
      assert.are.equal("AKIDDEV", c.access_key_id)
      assert.are.equal("devtoken", c.session_token)
      c = get({ profile = "dev", env = { HOME = home } })
      assert.are.equal("AKIDDEV", c.access_key_id)
    end)

    it("prefers environment keys, unless a profile is named", function()
      local env = { HOME = home, AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "x" }
      assert.are.equal("AKIDENV", get({ env = env }).access_key_id)
      assert.are.equal("AKIDDEV", get({ profile = "dev", env = env }).access_key_id)
    end)

    it("honours AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE", function()
      smop.write(dir .. "/other-credentials", "[default]\naws_access_key_id = AKIDOTHER\n"
        .. "aws_secret_access_key = s\n")
      local c = get({ env = { HOME = home, AWS_SHARED_CREDENTIALS_FILE = dir .. "/other-credentials" } })
      assert.are.equal("AKIDOTHER", c.access_key_id)
      assert.are.equal("ap-south-1", creds.region({ env = { HOME = home,
        AWS_CONFIG_FILE = (function() smop.write(dir .. "/other-config", "[default]\nregion = ap-south-1\n")
          return dir .. "/other-config" end)() } }))
    end)

    it("says clearly what it does not support, or cannot find", function()
      local c, err = get({ profile = "tools", env = { HOME = home } })
      assert.is_nil(c)
      assert.are.equal("profile tools: credential_process is not supported", err)
      c, err = get({ profile = "missing", env = { HOME = home } })
      assert.is_nil(c)
      assert.are.equal("profile missing: not found (not in " .. home .. "/.aws/credentials, not in "
        .. home .. "/.aws/config)", err)
    end)

    it("gives the region from the environment, then the profile", function()
      assert.are.equal("us-west-2", creds.region({ env = { HOME = home } }))
      assert.are.equal("eu-central-1", creds.region({ profile = "dev", env = { HOME = home } }))
      assert.are.equal("eu-central-1", creds.region({ env = { HOME = home, AWS_PROFILE = "dev" } }))
      assert.are.equal("ca-central-1", creds.region({ env = { HOME = home,
        AWS_DEFAULT_REGION = "ca-central-1" } }))
      assert.are.equal("eu-north-1", creds.region({ env = { HOME = home, AWS_REGION = "eu-north-1",
        AWS_DEFAULT_REGION = "ca-central-1" } }))
      assert.is_nil(creds.region({ profile = "tools", env = { HOME = home } }))
      assert.is_nil(creds.region({ env = {} }))
    end)
  end)

  describe("web identity (IRSA)", function()
    local token_file

    local function irsa_env(session)
      return { AWS_ROLE_ARN = "arn:aws:iam::123456789012:role/smop",
        AWS_WEB_IDENTITY_TOKEN_FILE = token_file, AWS_ROLE_SESSION_NAME = session,
        AWS_ENDPOINT_URL_STS = stub.base }
    end

    before_each(function()
      token_file = dir .. "/token"
      smop.write(token_file, "token-1\n")
    end)

    it("assumes the role with the token, and refreshes with the rotated token", function()
      stub.set("ttl", REFRESH_SOON)
      local env = irsa_env("rotation")
      local before = os.time()
      local c = get({ env = env })
      assert.are.equal("ASIA-token-1", c.access_key_id)
      assert.are.equal("secret-token-1", c.secret_access_key)
      assert.are.equal("session-token-1-rotation", c.session_token)
      assert.are.equal("web identity", c.source)
      assert.is_true(c.expiration >= before + 301 and c.expiration <= os.time() + 301)
      assert.are.same({ "sts token-1 rotation" }, calls(stub, "sts token-1 rotation"))

      -- still fresh: served from the cache, even though the token rotated
      smop.write(token_file, "token-2")
      assert.are.equal("ASIA-token-1", get({ env = env }).access_key_id)
      assert.are.equal(1, #calls(stub, "sts token-1 rotation"))
      assert.are.equal(0, #calls(stub, "sts token-2 rotation"))

      -- inside the refresh window: the token file is read again
      wait_for_refresh_window()
      c = get({ env = env })
      assert.are.equal("ASIA-token-2", c.access_key_id)
      assert.are.equal("session-token-2-rotation", c.session_token)
      assert.are.equal(1, #calls(stub, "sts token-2 rotation"))
    end)

    it("makes one STS call per refresh, however many tasks ask at once", function()
      stub.set("ttl", REFRESH_SOON)
      local env = irsa_env("crowd")
      local function crowd()
        return task.run(function()
          local handles, keys = {}, {}
          for i = 1, 20 do
            handles[i] = task.spawn(function() return creds.get({ env = env }) end)
          end
          for i = 1, 20 do
            local ok, c, err = task.wait(handles[i])
            assert(ok and c, err)
            keys[c.access_key_id] = (keys[c.access_key_id] or 0) + 1
          end
          return keys
        end)
      end
      assert.are.same({ ["ASIA-token-1"] = 20 }, crowd())
      assert.are.equal(1, #calls(stub, "sts token-1 crowd"))

      smop.write(token_file, "token-2")
      wait_for_refresh_window()
      assert.are.same({ ["ASIA-token-2"] = 20 }, crowd())
      assert.are.equal(1, #calls(stub, "sts token-2 crowd"))
      local total = 0
      for _, line in ipairs(calls(stub, "sts ")) do
        if line:match(" crowd$") then total = total + 1 end
      end
      assert.are.equal(2, total)
    end)

    it("keeps valid credentials when a refresh fails, and fails once they expire", function()
      stub.set("ttl", REFRESH_SOON)
      local env = irsa_env("outage")
      assert.are.equal("ASIA-token-1", get({ env = env }).access_key_id)

      stub.set("fail", "InvalidIdentityToken")
      wait_for_refresh_window()
      local c = get({ env = env })
      assert.are.equal("ASIA-token-1", c.access_key_id)
      assert.are.equal("web identity: STS AssumeRoleWithWebIdentity: InvalidIdentityToken: "
        .. "token rejected by the stub", c.refresh_error)
      assert.are.equal(2, #calls(stub, "sts token-1 outage"))
      -- the next caller does not hammer STS: it gets the same, still valid, keys
      c = get({ env = env })
      assert.are.equal("ASIA-token-1", c.access_key_id)
      assert.are.equal(2, #calls(stub, "sts token-1 outage"))

      -- credentials that have expired are never handed out
      stub.set("fail", nil)
      stub.set("ttl", "1")
      local short = irsa_env("expiring")
      assert.are.equal("ASIA-token-1", get({ env = short }).access_key_id)
      stub.set("fail", "ExpiredTokenException")
      wait_for_refresh_window()
      local none, err = get({ env = short })
      assert.is_nil(none)
      assert.are.equal("web identity: STS AssumeRoleWithWebIdentity: ExpiredTokenException: "
        .. "token rejected by the stub", err)
    end)

    it("sends the request the SDKs send, with a default session name", function()
      local env = irsa_env(nil)
      local c = get({ env = env })
      assert.are.equal("ASIA-token-1", c.access_key_id)
      assert.matches("^session%-token%-1%-smop%-%d+$", c.session_token)
      assert.are.equal(0, #calls(stub, "sts-rejected"))
    end)

    it("reads role_arn and web_identity_token_file from a profile", function()
      local home = dir .. "/wif-home"
      assert(os.execute("mkdir -p " .. smop.quote(home .. "/.aws")))
      smop.write(home .. "/.aws/config", "[profile irsa]\nrole_arn = arn:aws:iam::123456789012:role/p\n"
        .. "web_identity_token_file = " .. token_file .. "\nrole_session_name = from-profile\n")
      local c = get({ profile = "irsa", env = { HOME = home, AWS_ENDPOINT_URL = stub.base } })
      assert.are.equal("session-token-1-from-profile", c.session_token)
      assert.are.equal("web identity", c.source)
    end)

    it("fails with one line naming the file when the token is missing", function()
      local env = irsa_env("missing")
      env.AWS_WEB_IDENTITY_TOKEN_FILE = dir .. "/no-such-token"
      env.AWS_ACCESS_KEY_ID = nil
      local c, err = get({ env = env })
      assert.is_nil(c)
      assert.are.equal("web identity: token file " .. dir .. "/no-such-token: "
        .. "No such file or directory", err)
    end)

    it("does not fall through to other sources when STS fails", function()
      stub.set("fail", "InvalidIdentityToken")
      local env = irsa_env("no-fallthrough")
      env.AWS_EC2_METADATA_SERVICE_ENDPOINT = stub.base
      local c, err = get({ env = env })
      assert.is_nil(c)
      assert.are.equal("web identity: STS AssumeRoleWithWebIdentity: InvalidIdentityToken: "
        .. "token rejected by the stub", err)
      assert.is_nil(err:find("token-1", 1, true))
    end)
  end)

  describe("container credentials (EKS Pod Identity)", function()
    it("sends the token file's content, read again at each refresh", function()
      stub.set("ttl", REFRESH_SOON)
      local auth_file = dir .. "/eks-pod-identity-token"
      smop.write(auth_file, "auth-1")
      local env = { AWS_CONTAINER_CREDENTIALS_FULL_URI = stub.base .. "/container",
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = auth_file }
      local c = get({ env = env })
      assert.are.equal("ASIA-container-auth-1", c.access_key_id)
      assert.are.equal("container", c.source)
      assert.is_number(c.expiration)

      smop.write(auth_file, "auth-2\n")
      wait_for_refresh_window()
      assert.are.equal("ASIA-container-auth-2", get({ env = env }).access_key_id)
    end)

    it("reports the endpoint's error, and refuses endpoints that are not local", function()
      local c, err = get({ env = { AWS_CONTAINER_CREDENTIALS_FULL_URI = stub.base .. "/container" } })
      assert.is_nil(c)
      assert.are.equal("container: GET " .. stub.base .. "/container: HTTP 401: "
        .. "AccessDenied: no authorization token", err)
      c, err = get({ env = { AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://192.0.2.10/creds" } })
      assert.is_nil(c)
      assert.matches("^container: AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, .* not 192%.0%.2%.10$",
        err)
    end)
  end)

  describe("IMDSv2", function()
    it("gets a session token, the role, then its credentials", function()
      local c = get({ env = { AWS_EC2_METADATA_SERVICE_ENDPOINT = stub.base .. "/" } })
      assert.are.equal("ASIA-imds", c.access_key_id)
      assert.are.equal("imds", c.source)
      assert.are.equal(1, #calls(stub, "imds"))
    end)
  end)
end)
