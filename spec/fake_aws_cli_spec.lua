-- `smop fake-aws` as a user runs it: the binary as a subprocess, driven by
-- the real `aws` CLI (/usr/bin/aws), curl on the control endpoint, and
-- --state across a restart.
local fa = require("spec.support.fake_aws")
local json = require("smop.json")
local smop = require("spec.support.smop")

local function decode(out)
  return assert(json.decode(out), "not JSON: " .. out)
end

describe("smop fake-aws", function()
  describe("command line", function()
    it("refuses bad arguments with usage, exit 2", function()
      local _, err, code = smop.run({ "fake-aws", "--speed", "fast" })
      assert.are.equal(2, code)
      assert.matches("%-%-speed needs a number", err)
      assert.matches("usage: smop fake%-aws", err)
      _, err, code = smop.run({ "fake-aws", "--listen", "nowhere" })
      assert.are.equal(2, code)
      assert.matches("HOST:PORT", err)
      _, err, code = smop.run({ "fake-aws", "--credentials", "nocolon" })
      assert.are.equal(2, code)
      assert.matches("KEY:SECRET", err, 1, true)
    end)

    it("says where the control endpoint is documented with --help", function()
      local out, _, code = smop.run({ "fake-aws", "--help" })
      assert.are.equal(0, code)
      assert.matches("docs/fake%-aws.md", out)
    end)

    it("refuses a --state file that is not its own", function()
      local path = smop.tempfile("[1, 2, 3]")
      local _, err, code = smop.run({ "fake-aws", "--state", path })
      os.remove(path)
      assert.are.equal(1, code)
      assert.matches("is not a fake%-aws state file", err)
      path = smop.tempfile('{"version": 9, "services": {}}')
      _, err, code = smop.run({ "fake-aws", "--state", path })
      os.remove(path)
      assert.are.equal(1, code)
      assert.matches("the saved state is not version 1", err)
    end)
  end)

  describe("with the aws CLI", function()
    local proc

    setup(function()
      proc = fa.start({ "--credentials", "AKIAEXTRA00000000001:extra/secret" })
    end)
    teardown(function()
      if proc then proc.stop() end
    end)

    it("prints its URL on the first line and binds loopback", function()
      assert.matches("^http://127%.0%.0%.1:%d+$", proc.url)
    end)

    it("answers aws sts get-caller-identity", function()
      local out, err, code = fa.aws(proc.url, { "sts", "get-caller-identity" })
      assert.are.equal(0, code, err)
      local id = decode(out)
      assert.are.same({ "123456789012", "arn:aws:iam::123456789012:user/smop" }, { id.Account, id.Arn })
    end)

    it("accepts keys given with --credentials", function()
      local out, err, code = fa.aws(proc.url, { "sts", "get-caller-identity" },
        "AWS_ACCESS_KEY_ID=AKIAEXTRA00000000001 AWS_SECRET_ACCESS_KEY=extra/secret")
      assert.are.equal(0, code, err)
      assert.are.equal("123456789012", decode(out).Account)
    end)

    it("gives the CLI AWS's signature errors for a wrong secret or an unknown key", function()
      local _, err, code = fa.aws(proc.url, { "sts", "get-caller-identity" }, "AWS_SECRET_ACCESS_KEY=wrong")
      assert.are.equal(254, code)
      assert.matches("An error occurred (SignatureDoesNotMatch) when calling the GetCallerIdentity "
        .. "operation: The request signature we calculated does not match the signature you provided.",
        err, 1, true)
      _, err, code = fa.aws(proc.url, { "logs", "describe-log-groups" }, "AWS_SECRET_ACCESS_KEY=wrong")
      assert.are.equal(254, code)
      assert.matches("(InvalidSignatureException) when calling the DescribeLogGroups operation", err, 1, true)
      _, err, code = fa.aws(proc.url, { "logs", "describe-log-groups" },
        "AWS_ACCESS_KEY_ID=AKIANOBODY0000000000")
      assert.are.equal(254, code)
      assert.matches("(UnrecognizedClientException) when calling the DescribeLogGroups operation: "
        .. "The security token included in the request is invalid.", err, 1, true)
    end)

    it("serves smop's own credential chain: web identity (IRSA) through STS, then the call", function()
      local codec = require("fake.aws.codec")
      local claims = json.encode({ sub = "system:serviceaccount:smop-system:smop", aud = "sts.amazonaws.com",
        iss = "https://oidc.example", exp = os.time() + 3600 })
      local token = smop.tempfile("eyJhbGciOiJSUzI1NiJ9." .. codec.base64(claims):gsub("=+$", "") .. ".c2ln")
      local env = string.format("env -i PATH=/usr/bin:/bin HOME=/nonexistent AWS_REGION=us-east-1 "
        .. "AWS_EC2_METADATA_DISABLED=true AWS_ROLE_ARN=arn:aws:iam::123456789012:role/smop-irsa "
        .. "AWS_ROLE_SESSION_NAME=operator AWS_WEB_IDENTITY_TOKEN_FILE=%s AWS_ENDPOINT_URL_STS=%s ",
        smop.quote(token), smop.quote(proc.url))
      local out, err, code = smop.run({ "aws", "sts", "GetCallerIdentity", "--endpoint-url", proc.url },
        { env = env })
      os.remove(token)
      assert.are.equal(0, code, err)
      assert.are.equal("arn:aws:sts::123456789012:assumed-role/smop-irsa/operator", decode(out).Arn)
      -- the call was signed with the temporary key STS handed out
      local calls = fa.curl(proc.url, "GET", "/_smop/calls?service=sts").calls
      local last = calls[#calls]
      assert.are.equal("GetCallerIdentity", last.operation)
      assert.matches("^ASIA", last.access_key_id)
      assert.are.equal("AssumeRoleWithWebIdentity", calls[#calls - 1].operation)
      assert.are.equal(json.null, calls[#calls - 1].access_key_id)
    end)

    it("registers and describes scalable targets with aws application-autoscaling", function()
      local _, err, code = fa.aws(proc.url, { "application-autoscaling", "register-scalable-target",
        "--service-namespace", "ecs", "--resource-id", "service/default/web",
        "--scalable-dimension", "ecs:service:DesiredCount", "--min-capacity", "1", "--max-capacity", "3" })
      assert.are.equal(0, code, err)
      local out
      out, err, code = fa.aws(proc.url, { "application-autoscaling", "describe-scalable-targets",
        "--service-namespace", "ecs" })
      assert.are.equal(0, code, err)
      local t = decode(out).ScalableTargets[1]
      assert.are.same({ "service/default/web", 1, 3 }, { t.ResourceId, t.MinCapacity, t.MaxCapacity })
      -- a SageMaker resource id must name an endpoint variant
      _, err, code = fa.aws(proc.url, { "application-autoscaling", "register-scalable-target",
        "--service-namespace", "sagemaker", "--resource-id", "endpoint/my-endpoint",
        "--scalable-dimension", "sagemaker:variant:DesiredInstanceCount", "--min-capacity", "1",
        "--max-capacity", "3" })
      assert.are.equal(254, code)
      assert.matches("(ValidationException) when calling the RegisterScalableTarget operation: "
        .. "Unsupported resource ID endpoint/my-endpoint", err, 1, true)
    end)

    it("writes and reads log events with aws logs", function()
      local function aws(args)
        local out, err, code = fa.aws(proc.url, args)
        assert.are.equal(0, code, err)
        return out
      end
      aws({ "logs", "create-log-group", "--log-group-name", "/smop/cli" })
      aws({ "logs", "create-log-stream", "--log-group-name", "/smop/cli", "--log-stream-name", "s1" })
      local now = os.time() * 1000
      aws({ "logs", "put-log-events", "--log-group-name", "/smop/cli", "--log-stream-name", "s1",
        "--log-events", "timestamp=" .. now .. ",message=first",
        "timestamp=" .. (now + 1) .. ",message=second" })
      local out = decode(aws({ "logs", "get-log-events", "--log-group-name", "/smop/cli",
        "--log-stream-name", "s1", "--start-from-head" }))
      assert.are.same({ "first", "second" }, { out.events[1].message, out.events[2].message })
      assert.matches("^f/", out.nextForwardToken)
      out = decode(aws({ "logs", "filter-log-events", "--log-group-name", "/smop/cli",
        "--filter-pattern", "sec" }))
      assert.are.equal(1, #out.events)
      local _, err, code = fa.aws(proc.url, { "logs", "get-log-events", "--log-group-name", "/smop/cli",
        "--log-stream-name", "nope" })
      assert.are.equal(254, code)
      assert.matches("(ResourceNotFoundException) when calling the GetLogEvents operation: "
        .. "The specified log stream does not exist.", err, 1, true)
    end)

    it("takes a training job through its lifecycle with aws sagemaker", function()
      local function sm(args)
        local out, err, code = fa.aws(proc.url, args)
        assert.are.equal(0, code, err)
        return out ~= "" and decode(out) or nil
      end
      local created = sm({ "sagemaker", "create-training-job", "--training-job-name", "cli-xgboost",
        "--role-arn", "arn:aws:iam::123456789012:role/sagemaker",
        "--algorithm-specification", "TrainingImage=433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1,"
          .. "TrainingInputMode=File",
        "--output-data-config", "S3OutputPath=s3://my-bucket/xgboost",
        "--resource-config", "InstanceType=ml.m4.xlarge,InstanceCount=1,VolumeSizeInGB=5",
        "--stopping-condition", "MaxRuntimeInSeconds=86400" })
      assert.are.equal("arn:aws:sagemaker:us-east-1:123456789012:training-job/cli-xgboost",
        created.TrainingJobArn)
      local job = sm({ "sagemaker", "describe-training-job", "--training-job-name", "cli-xgboost" })
      assert.are.equal("InProgress", job.TrainingJobStatus)

      fa.curl(proc.url, "POST", "/_smop/clock", { advance = 25 })
      job = sm({ "sagemaker", "describe-training-job", "--training-job-name", "cli-xgboost" })
      assert.are.same({ "InProgress", "Training" }, { job.TrainingJobStatus, job.SecondaryStatus })
      local names = {}
      for _, t in ipairs(job.SecondaryStatusTransitions) do names[#names + 1] = t.Status end
      assert.are.same({ "Starting", "Downloading", "Training" }, names)

      -- the job writes its CloudWatch log stream as it goes
      local streams = sm({ "logs", "describe-log-streams", "--log-group-name",
        "/aws/sagemaker/TrainingJobs", "--log-stream-name-prefix", "cli-xgboost/" }).logStreams
      assert.are.equal(1, #streams)
      local events = sm({ "logs", "get-log-events", "--log-group-name", "/aws/sagemaker/TrainingJobs",
        "--log-stream-name", streams[1].logStreamName, "--start-from-head" }).events
      assert.is_true(#events > 0)

      local list = sm({ "sagemaker", "list-training-jobs", "--name-contains", "cli-xgb" })
      assert.are.equal(1, #list.TrainingJobSummaries)
      assert.are.equal("cli-xgboost", list.TrainingJobSummaries[1].TrainingJobName)

      assert.is_nil(sm({ "sagemaker", "stop-training-job", "--training-job-name", "cli-xgboost" }))
      job = sm({ "sagemaker", "describe-training-job", "--training-job-name", "cli-xgboost" })
      assert.are.equal("Stopping", job.TrainingJobStatus)
      fa.curl(proc.url, "POST", "/_smop/clock", { advance = 60 })
      job = sm({ "sagemaker", "describe-training-job", "--training-job-name", "cli-xgboost" })
      assert.are.equal("Stopped", job.TrainingJobStatus)

      local _, err, code = fa.aws(proc.url, { "sagemaker", "describe-training-job",
        "--training-job-name", "no-such-job" })
      assert.are.equal(254, code)
      assert.matches("(ValidationException) when calling the DescribeTrainingJob operation: "
        .. "Requested resource not found.", err, 1, true)
    end)

    it("shows the CLI a validation error in AWS's words", function()
      local _, err, code = fa.aws(proc.url, { "logs", "create-log-group", "--log-group-name", "bad name" })
      assert.are.equal(254, code)
      assert.matches("(ValidationException) when calling the CreateLogGroup operation: 1 validation error "
        .. "detected: Value 'bad name' at 'logGroupName' failed to satisfy constraint", err, 1, true)
    end)

    it("throttles through the control endpoint; the CLI retries and the calls show it", function()
      local before = fa.curl(proc.url, "GET", "/_smop/calls?since=999999").next
      local fault = fa.curl(proc.url, "POST", "/_smop/faults",
        { kind = "throttle", service = "sts", count = 1 })
      assert.are.equal("throttle", fault.fault.kind)
      local _, err, code = fa.aws(proc.url, { "sts", "get-caller-identity" })
      assert.are.equal(0, code, err)
      local calls = fa.curl(proc.url, "GET", "/_smop/calls?since=" .. before).calls
      assert.are.equal(2, #calls)
      assert.are.same({ "Throttling", json.null }, { calls[1].error, calls[2].error })
    end)

    it("answers garbage, unknown targets and oversized bodies, and keeps serving", function()
      local function curl(args)
        local p = assert(io.popen("curl -s -o - -w '\\n%{http_code}' " .. args .. " "
          .. smop.quote(proc.url .. "/")))
        local out = p:read("a")
        p:close()
        local body, status = out:match("^(.*)\n(%d+)$")
        return tonumber(status), body
      end
      local status, body = curl("-X POST -H 'X-Amz-Target: Logs_20140328.DescribeLogGroups' "
        .. "-H 'Content-Type: application/x-amz-json-1.1' --data-binary '{{{'")
      assert.are.equal(400, status)
      -- unsigned garbage fails authentication first, as at AWS
      assert.are.equal("MissingAuthenticationTokenException", decode(body).__type)
      status, body = curl("-X POST -H 'X-Amz-Target: Nope.Nope' --data-binary 'x'")
      assert.are.equal(400, status)
      assert.are.equal("UnknownOperationException", decode(body).__type)
      local big = os.tmpname()
      local f = assert(io.open(big, "wb"))
      f:write(string.rep("x", 9 * 1024 * 1024))
      f:close()
      status, body = curl("-X POST -H 'X-Amz-Target: Logs_20140328.DescribeLogGroups' --data-binary @" .. big)
      os.remove(big)
      assert.are.equal(413, status)
      assert.are.equal("RequestEntityTooLargeException", decode(body).__type)
      local _, err, code = fa.aws(proc.url, { "sts", "get-caller-identity" })
      assert.are.equal(0, code, err)
    end)
  end)

  it("keeps its state in --state FILE across a restart", function()
    local dir = smop.tempdir()
    local path = dir .. "/state.json"
    local proc = fa.start({ "--state", path, "--speed", "0" })
    local ok, err = pcall(function()
      local _, aerr, code = fa.aws(proc.url, { "logs", "create-log-group", "--log-group-name", "kept" })
      assert.are.equal(0, code, aerr)
      fa.curl(proc.url, "POST", "/_smop/clock", { advance = 3600 })
    end)
    local clock = fa.curl(proc.url, "GET", "/_smop/clock")
    proc.stop()
    assert(ok, err)
    local f = assert(io.open(path))
    local saved = decode(f:read("a"))
    f:close()
    assert.are.equal(1, saved.version)
    assert.is_table(saved.services.logs.groups.kept)

    proc = fa.start({ "--state", path })
    ok, err = pcall(function()
      local out, aerr, code = fa.aws(proc.url, { "logs", "describe-log-groups" })
      assert.are.equal(0, code, aerr)
      assert.are.equal("kept", decode(out).logGroups[1].logGroupName)
      -- the frozen clock resumes where it stood
      local c = fa.curl(proc.url, "GET", "/_smop/clock")
      assert.are.same({ clock.now, 0 }, { c.now, c.speed })
    end)
    proc.stop()
    os.execute("rm -rf " .. smop.quote(dir))
    assert(ok, err)
  end)
end)
