-- `smop aws` end to end: the real binary against a local endpoint that checks
-- every signature with botocore's signer, and the real `aws` CLI beside it.
local server = require("spec.support.server")
local smop = require("spec.support.smop")

local ENV = "env -i PATH=/usr/bin:/bin HOME=/nonexistent AWS_ACCESS_KEY_ID=AKIDEXAMPLE "
  .. "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_REGION=us-east-1 "
  .. "AWS_EC2_METADATA_DISABLED=true "

describe("smop aws", function()
  local stub

  setup(function()
    stub = server.start({ script = "spec/support/aws_stub.py", python = "/usr/bin/python3" })
  end)
  teardown(function()
    if stub then stub.stop() end
  end)

  local function aws(args, env)
    local full = { "aws" }
    for _, a in ipairs(args) do full[#full + 1] = a end
    full[#full + 1] = "--endpoint-url"
    full[#full + 1] = stub.base
    return smop.run(full, { env = env or ENV })
  end

  it("signs a SageMaker JSON 1.1 call exactly as botocore does and prints the answer", function()
    local out, err, code = aws({ "sagemaker", "DescribeTrainingJob", '{"TrainingJobName": "xgboost-mnist"}' })
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.matches('"TrainingJobName": "xgboost%-mnist"', out)
    assert.matches('"TrainingJobStatus": "InProgress"', out)
  end)

  it("accepts the AWS CLI's kebab-case operation names and a session token", function()
    local _, err, code = aws({ "sagemaker", "list-training-jobs" }, ENV .. "AWS_SESSION_TOKEN=token-abc ")
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("speaks the STS query protocol and reads its XML answer", function()
    local out, _, code = aws({ "sts", "GetCallerIdentity" })
    assert.are.equal(0, code)
    assert.matches('"Account": "123456789012"', out)
    assert.matches('"Arn": "arn:aws:iam::123456789012:user/smop"', out)
  end)

  it("exits 254 with the AWS error code and message", function()
    local out, err, code = aws({ "sagemaker", "DescribeTrainingJob", '{"TrainingJobName": "missing-job"}' })
    assert.are.equal(254, code)
    assert.are.equal("", out)
    assert.are.equal("smop aws: An error occurred (ValidationException) when calling the "
      .. "DescribeTrainingJob operation: Requested resource not found.\n", err)
  end)

  it("retries throttling with backoff and succeeds", function()
    assert.is_true(os.execute("curl -s -X POST '" .. stub.base .. "/_throttle?n=2' >/dev/null"))
    local _, err, code = aws({ "sagemaker", "ListTrainingJobs" })
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("gets AWS's signature error with a wrong secret, and never prints the secret", function()
    local env = ENV:gsub("EXAMPLEKEY", "WRONGKEY0")
    local _, err, code = aws({ "sagemaker", "ListTrainingJobs" }, env)
    assert.are.equal(254, code)
    assert.matches("(InvalidSignatureException)", err, 1, true)
    assert.is_nil(err:find("WRONGKEY0", 1, true))
  end)

  it("exits 2 on malformed JSON with the position", function()
    local _, err, code = aws({ "sagemaker", "DescribeTrainingJob", '{"TrainingJobName": }' })
    assert.are.equal(2, code)
    assert.matches("smop aws: invalid JSON argument: .* line 1 column %d+", err)
  end)

  it("exits 2 on an unknown service or operation, listing what is known", function()
    local _, err, code = aws({ "sagemakr", "ListTrainingJobs" })
    assert.are.equal(2, code)
    assert.matches("unknown service 'sagemakr' (known: application-autoscaling, logs, sagemaker, sts)",
      err, 1, true)
    _, err, code = aws({ "sagemaker", "ListTrainingJob" })
    assert.are.equal(2, code)
    assert.matches("unknown operation 'ListTrainingJob' for sagemaker; known operations:", err, 1, true)
    assert.matches("ListTrainingJobs", err, 1, true)
  end)

  it("explains missing credentials in one line naming what was tried", function()
    local _, err, code = aws({ "sagemaker", "ListTrainingJobs" },
      "env -i PATH=/usr/bin:/bin HOME=/nonexistent AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true ")
    assert.are.equal(255, code)
    assert.matches("^smop aws: [^\n]*environment", err)
    assert.are.equal(1, select(2, err:gsub("\n", "")))
  end)

  it("is signed the same way as the real aws CLI (both verified by botocore's signer)", function()
    local cmd = ENV .. "aws --endpoint-url " .. stub.base
      .. " sagemaker describe-training-job --training-job-name via-aws-cli --output json 2>&1"
    local p = assert(io.popen(cmd))
    local out = p:read("a")
    local ok = p:close()
    assert.is_true(ok, out)
    assert.matches('"TrainingJobName": "via%-aws%-cli"', out)
    local calls = assert(io.popen("curl -s " .. stub.base .. "/_calls")):read("a")
    assert.is_nil(calls:find("DescribeTrainingJob unsigned", 1, true))
    assert.matches("DescribeTrainingJob signed", calls, 1, true)
  end)
end)
