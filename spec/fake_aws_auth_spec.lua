-- SigV4 verification in the fake, in-process: refused as AWS refuses
-- (codes, statuses, messages per protocol), temporary credentials from STS
-- accepted until they expire.
local fa = require("spec.support.fake_aws")
local json = require("smop.json")
local xml = require("aws.xml")
local task = require("smop.task")

local MISMATCH = "The request signature we calculated does not match the signature you provided. "
  .. "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

local function run(fn)
  task.run(fn)
end

local function sts_error(body)
  local e = xml.child(assert(xml.parse(body)), "Error")
  return xml.child(e, "Code").text, xml.child(e, "Message").text
end

describe("fake-aws SigV4", function()
  it("accepts the documentation's example key, with or without a session token", function()
    run(function()
      local app = fa.app()
      assert.are.equal(200, (fa.call(app, "logs", "DescribeLogGroups", {})))
      local creds = { access_key_id = fa.KEY, secret_access_key = fa.SECRET, session_token = "anything" }
      assert.are.equal(200, (fa.call(app, "logs", "DescribeLogGroups", {}, { creds = creds })))
    end)
  end)

  it("accepts keys added with credentials, and refuses them on another app", function()
    run(function()
      local creds = { access_key_id = "AKIAEXTRAKEY0000001", secret_access_key = "extra-secret" }
      local app = fa.app({ credentials = { [creds.access_key_id] = creds.secret_access_key } })
      assert.are.equal(200, (fa.call(app, "logs", "DescribeLogGroups", {}, { creds = creds })))
      local status, _, _, out = fa.call(fa.app(), "logs", "DescribeLogGroups", {}, { creds = creds })
      assert.are.equal(400, status)
      assert.are.equal("UnrecognizedClientException", out.__type)
      assert.are.equal("The security token included in the request is invalid.", out.message)
    end)
  end)

  it("refuses a wrong secret: InvalidSignatureException (JSON), SignatureDoesNotMatch 403 (STS)", function()
    run(function()
      local app = fa.app()
      local wrong = { access_key_id = fa.KEY, secret_access_key = "not-the-secret" }
      local status, headers, _, out = fa.call(app, "sagemaker", "ListModels", {}, { creds = wrong })
      assert.are.equal(400, status)
      assert.are.equal("InvalidSignatureException", out.__type)
      assert.are.equal("InvalidSignatureException", headers["x-amzn-ErrorType"])
      assert.are.equal(MISMATCH, out.message)
      local body
      status, _, body = fa.call(app, "sts", "GetCallerIdentity", nil, { creds = wrong })
      assert.are.equal(403, status)
      assert.are.same({ "SignatureDoesNotMatch", MISMATCH }, { sts_error(body) })
    end)
  end)

  it("refuses a body changed after signing", function()
    run(function()
      local app = fa.app()
      local req = fa.request("logs", "DescribeLogGroups", { logGroupNamePrefix = "a" })
      req.body = req.body:gsub('"a"', '"b"')
      local status, _, body = app:handle(req)
      assert.are.equal(400, status)
      assert.are.equal("InvalidSignatureException", json.decode(body).__type)
    end)
  end)

  it("refuses an unknown key: UnrecognizedClientException / InvalidClientTokenId 403", function()
    run(function()
      local app = fa.app()
      local who = { access_key_id = "AKIANOBODY000000000", secret_access_key = fa.SECRET }
      local status, _, _, out = fa.call(app, "logs", "DescribeLogGroups", {}, { creds = who })
      assert.are.equal(400, status)
      assert.are.equal("UnrecognizedClientException", out.__type)
      local body
      status, _, body = fa.call(app, "sts", "GetCallerIdentity", nil, { creds = who })
      assert.are.equal(403, status)
      assert.are.same({ "InvalidClientTokenId", "The security token included in the request is invalid." },
        { sts_error(body) })
    end)
  end)

  it("refuses a clock skewed by more than 5 minutes, both ways, naming the times", function()
    run(function()
      local app = fa.app()
      local now = os.time()
      assert.are.equal(200, (fa.call(app, "logs", "DescribeLogGroups", {}, { time = now - 240 })))
      local status, _, _, out = fa.call(app, "logs", "DescribeLogGroups", {}, { time = now - 400 })
      assert.are.equal(400, status)
      assert.are.equal("InvalidSignatureException", out.__type)
      assert.matches("^Signature expired: %d+T%d+Z is now earlier than %d+T%d+Z %(%d+T%d+Z %- 5 min%.%)$",
        out.message)
      status, _, _, out = fa.call(app, "logs", "DescribeLogGroups", {}, { time = now + 400 })
      assert.are.equal(400, status)
      assert.matches("^Signature not yet current: %d+T%d+Z is still later than %d+T%d+Z "
        .. "%(%d+T%d+Z %+ 5 min%.%)$", out.message)
    end)
  end)

  it("gives STS 15 minutes of skew, as AWS does", function()
    run(function()
      local app = fa.app()
      local now = os.time()
      assert.are.equal(200, (fa.call(app, "sts", "GetCallerIdentity", nil, { time = now - 600 })))
      local status, _, body = fa.call(app, "sts", "GetCallerIdentity", nil, { time = now - 1000 })
      assert.are.equal(403, status)
      local code, message = sts_error(body)
      assert.are.equal("SignatureDoesNotMatch", code)
      assert.matches("%- 15 min%.%)$", message)
    end)
  end)

  it("refuses an unsigned request: MissingAuthenticationToken", function()
    run(function()
      local app = fa.app()
      local status, _, _, out = fa.call(app, "logs", "DescribeLogGroups", {}, { creds = false })
      assert.are.equal(400, status)
      assert.are.equal("MissingAuthenticationTokenException", out.__type)
      local body
      status, _, body = fa.call(app, "sts", "GetCallerIdentity", nil, { creds = false })
      assert.are.equal(403, status)
      assert.are.same({ "MissingAuthenticationToken", "Request is missing Authentication Token" },
        { sts_error(body) })
    end)
  end)

  it("refuses a malformed Authorization header: IncompleteSignatureException", function()
    run(function()
      local app = fa.app()
      local req = fa.request("logs", "DescribeLogGroups", {})
      req.headers.authorization = "AWS4-HMAC-SHA256 Credential=" .. fa.KEY
        .. "/20250101/us-east-1/logs/aws4_request"
      local status, _, body = app:handle(req)
      assert.are.equal(400, status)
      local out = json.decode(body)
      assert.are.equal("IncompleteSignatureException", out.__type)
      assert.matches("Authorization header requires 'Signature' parameter.", out.message, 1, true)
      assert.matches("Authorization header requires 'SignedHeaders' parameter.", out.message, 1, true)
    end)
  end)

  it("refuses a signature scoped to another service", function()
    run(function()
      local app = fa.app()
      local status, _, _, out = fa.call(app, "logs", "DescribeLogGroups", {}, { signing = "sagemaker" })
      assert.are.equal(400, status)
      assert.are.equal("InvalidSignatureException", out.__type)
      assert.are.equal("Credential should be scoped to correct service: 'logs'. ", out.message)
    end)
  end)

  describe("temporary credentials", function()
    local function assume(app, duration)
      local status, _, body = fa.call(app, "sts", "AssumeRole", {
        RoleArn = "arn:aws:iam::123456789012:role/smop-operator", RoleSessionName = "spec",
        DurationSeconds = duration })
      assert.are.equal(200, status, body)
      local c = xml.child(xml.child(xml.parse(body), "AssumeRoleResult"), "Credentials")
      return {
        access_key_id = xml.child(c, "AccessKeyId").text,
        secret_access_key = xml.child(c, "SecretAccessKey").text,
        session_token = xml.child(c, "SessionToken").text,
        expiration = xml.child(c, "Expiration").text,
      }
    end

    it("are accepted with their session token, as the assumed role", function()
      run(function()
        local app = fa.app()
        local creds = assume(app)
        assert.matches("^ASIA[A-Z2-7]+$", creds.access_key_id)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", creds.expiration)
        local status, _, body = fa.call(app, "sts", "GetCallerIdentity", nil, { creds = creds })
        assert.are.equal(200, status, body)
        assert.matches("<Arn>arn:aws:sts::123456789012:assumed%-role/smop%-operator/spec</Arn>", body)
        assert.matches("<UserId>AROA[A-Z2-7]+:spec</UserId>", body)
        assert.are.equal(200, (fa.call(app, "logs", "DescribeLogGroups", {}, { creds = creds })))
      end)
    end)

    it("are refused without or with a wrong session token", function()
      run(function()
        local app = fa.app()
        local creds = assume(app)
        local bare = { access_key_id = creds.access_key_id, secret_access_key = creds.secret_access_key }
        local status, _, _, out = fa.call(app, "logs", "DescribeLogGroups", {}, { creds = bare })
        assert.are.equal(400, status)
        assert.are.equal("UnrecognizedClientException", out.__type)
        bare.session_token = creds.session_token .. "x"
        status = fa.call(app, "logs", "DescribeLogGroups", {}, { creds = bare })
        assert.are.equal(400, status)
      end)
    end)

    it("expire on the virtual clock: ExpiredTokenException / ExpiredToken 403", function()
      run(function()
        local app = fa.app()
        local creds = assume(app, 900)
        fa.control(app, "POST", "/_smop/clock", { advance = 899 })
        assert.are.equal(200, (fa.call(app, "logs", "DescribeLogGroups", {}, { creds = creds })))
        fa.control(app, "POST", "/_smop/clock", { advance = 2 })
        local status, _, _, out = fa.call(app, "logs", "DescribeLogGroups", {}, { creds = creds })
        assert.are.equal(400, status)
        assert.are.equal("ExpiredTokenException", out.__type)
        assert.are.equal("The security token included in the request is expired", out.message)
        local body
        status, _, body = fa.call(app, "sts", "GetCallerIdentity", nil, { creds = creds })
        assert.are.equal(403, status)
        assert.are.equal("ExpiredToken", (sts_error(body)))
      end)
    end)
  end)

  it("serves aws.client through the server; temporary credentials sign the next calls", function()
    fa.serve({}, function(env)
      local sts = env.client("sts")
      local id = assert(sts:call("GetCallerIdentity", {}))
      assert.are.same({ "123456789012", "arn:aws:iam::123456789012:user/smop" }, { id.Account, id.Arn })
      local out = assert(sts:call("AssumeRole", { RoleArn = "arn:aws:iam::123456789012:role/r",
        RoleSessionName = "client" }))
      local c = out.Credentials
      assert.is_string(c.Expiration)
      local temp = { access_key_id = c.AccessKeyId, secret_access_key = c.SecretAccessKey,
        session_token = c.SessionToken }
      id = assert(env.client("sts", temp):call("GetCallerIdentity", {}))
      assert.are.equal("arn:aws:sts::123456789012:assumed-role/r/client", id.Arn)
      assert(env.client("logs", temp):call("DescribeLogGroups", {}))
      local _, err = env.client("logs", { access_key_id = fa.KEY, secret_access_key = "x" })
        :call("DescribeLogGroups", {})
      assert.are.same({ "service", "InvalidSignatureException", 400 }, { err.kind, err.code, err.status })
    end)
  end)

  it("takes AssumeRoleWithWebIdentity unsigned and returns credentials it then accepts", function()
    run(function()
      local app = fa.app()
      local codec = require("fake.aws.codec")
      local claims = json.encode({ sub = "system:serviceaccount:smop:operator", aud = { "sts.amazonaws.com" },
        iss = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC", exp = os.time() + 3600 })
      local token = "eyJhbGciOiJSUzI1NiJ9." .. codec.base64(claims):gsub("=", "") .. ".c2ln"
      local status, _, body = fa.call(app, "sts", "AssumeRoleWithWebIdentity", {
        RoleArn = "arn:aws:iam::123456789012:role/irsa", RoleSessionName = "pod",
        WebIdentityToken = token }, { creds = false })
      assert.are.equal(200, status, body)
      local result = xml.child(xml.parse(body), "AssumeRoleWithWebIdentityResult")
      assert.are.equal("system:serviceaccount:smop:operator",
        xml.child(result, "SubjectFromWebIdentityToken").text)
      assert.are.equal("sts.amazonaws.com", xml.child(result, "Audience").text)
      assert.are.equal("oidc.eks.us-east-1.amazonaws.com/id/ABC", xml.child(result, "Provider").text)
      local c = xml.child(result, "Credentials")
      local creds = { access_key_id = xml.child(c, "AccessKeyId").text,
        secret_access_key = xml.child(c, "SecretAccessKey").text,
        session_token = xml.child(c, "SessionToken").text }
      status, _, body = fa.call(app, "sts", "GetCallerIdentity", nil, { creds = creds })
      assert.are.equal(200, status)
      assert.matches("assumed%-role/irsa/pod", body)

      status, _, body = fa.call(app, "sts", "AssumeRoleWithWebIdentity", {
        RoleArn = "arn:aws:iam::123456789012:role/irsa", RoleSessionName = "pod",
        WebIdentityToken = "not-a-jwt-at-all" }, { creds = false })
      assert.are.equal(400, status)
      assert.are.equal("InvalidIdentityToken", (sts_error(body)))
    end)
  end)
end)
