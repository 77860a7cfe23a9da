-- The fake SageMaker's Debugger rules (lua/fake/aws/sagemaker/training.lua):
-- DescribeTrainingJob's DebugRuleEvaluationStatuses through a training
-- job's life, every answer checked against the API model's output shape.
local fake_aws = require("spec.support.fake_aws")
local common = require("fake.aws.sagemaker.common")
local json = require("smop.json")

local D = common.durations
local REGION = "us-west-2"
local JOB = "xgb-debug"
local RULE_ARN = "^arn:aws:sagemaker:us%-west%-2:123456789012:processing%-job/"
  .. "xgb%-debug%-lossnotdecreasing%-%x%x%x%x%x%x%x%x$"

local function app()
  return fake_aws.app({ modules = { sagemaker = fake_aws.strict("sagemaker", "fake.aws.sagemaker") } })
end

local function call(a, op, params)
  local status, _, body, decoded = fake_aws.call(a, "sagemaker", op, params, { region = REGION })
  assert(status == 200, op .. ": " .. body)
  return decoded
end

local function advance(a, seconds)
  assert(fake_aws.control(a, "POST", "/_smop/clock", { advance = seconds }) == 200)
end

local function now(a)
  local _, body = fake_aws.control(a, "GET", "/_smop/clock")
  return body.now
end

local function create(a, name, rules)
  local req = {
    TrainingJobName = name,
    RoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    AlgorithmSpecification = { TrainingImage = "246618743249.dkr.ecr.us-west-2.amazonaws.com/xgb:1",
      TrainingInputMode = "File" },
    OutputDataConfig = { S3OutputPath = "s3://bucket/out" },
    ResourceConfig = { InstanceCount = 1, InstanceType = "ml.m4.xlarge", VolumeSizeInGB = 5 },
    StoppingCondition = { MaxRuntimeInSeconds = 86400 },
  }
  if rules then
    req.DebugHookConfig = { S3OutputPath = "s3://bucket/hook" }
    req.DebugRuleConfigurations = json.array({})
    for i, rule in ipairs(rules) do
      req.DebugRuleConfigurations[i] = { RuleConfigurationName = rule,
        RuleEvaluatorImage = "895741380848.dkr.ecr.us-west-2.amazonaws.com/sagemaker-debugger-rules:latest",
        RuleParameters = { rule_to_invoke = rule } }
    end
  end
  call(a, "CreateTrainingJob", req)
end

local function rules_of(a, name)
  return call(a, "DescribeTrainingJob", { TrainingJobName = name }).DebugRuleEvaluationStatuses
end

-- The training job runs Starting, Downloading, Training, Uploading.
local RUN = D.training_starting + D.training_downloading + D.training_training + D.training_uploading

describe("fake SageMaker Debugger rules", function()
  it("are InProgress, get their job once training started, and end after it", function()
    local a = app()
    local t0 = now(a)
    create(a, JOB, { "LossNotDecreasing" })
    local rules = rules_of(a, JOB)
    assert.are.same({ { RuleConfigurationName = "LossNotDecreasing", RuleEvaluationStatus = "InProgress",
      LastModifiedTime = t0 } }, rules)

    advance(a, D.training_starting)   -- Downloading: the job started, so did the rule's
    rules = rules_of(a, JOB)
    assert.are.equal("InProgress", rules[1].RuleEvaluationStatus)
    assert.is_truthy(rules[1].RuleEvaluationJobArn:match(RULE_ARN), rules[1].RuleEvaluationJobArn)
    assert.are.equal(t0 + D.training_starting, rules[1].LastModifiedTime)

    advance(a, RUN - D.training_starting)   -- the job completed; the rule goes on
    local desc = call(a, "DescribeTrainingJob", { TrainingJobName = JOB })
    assert.are.equal("Completed", desc.TrainingJobStatus)
    assert.are.equal("InProgress", desc.DebugRuleEvaluationStatuses[1].RuleEvaluationStatus)

    advance(a, D.debug_rule_evaluation)
    rules = rules_of(a, JOB)
    assert.are.equal("NoIssuesFound", rules[1].RuleEvaluationStatus)
    assert.is_nil(rules[1].StatusDetails)
    assert.are.equal(t0 + RUN + D.debug_rule_evaluation, rules[1].LastModifiedTime)
  end)

  it("find issues when a failure is injected for <job>/<rule>", function()
    local a = app()
    create(a, JOB, { "LossNotDecreasing", "Overfit" })
    local details = "RuleEvaluationConditionMet: Evaluation of the rule Overfit at step 50 "
      .. "resulted in the condition being met"
    assert(fake_aws.control(a, "POST", "/_smop/faults", { kind = "fail", name = JOB .. "/Overfit",
      reason = details }) == 201)
    -- one long jump: every transition lands at its own instant
    advance(a, RUN + D.debug_rule_evaluation)
    local rules = rules_of(a, JOB)
    assert.are.equal("NoIssuesFound", rules[1].RuleEvaluationStatus)
    assert.are.equal("IssuesFound", rules[2].RuleEvaluationStatus)
    assert.are.equal(details, rules[2].StatusDetails)
    assert.are_not.equal(rules[1].RuleEvaluationJobArn, rules[2].RuleEvaluationJobArn)
  end)

  it("stop with the training job", function()
    local a = app()
    create(a, JOB, { "LossNotDecreasing" })
    advance(a, D.training_starting + 5)
    local stop_at = now(a)
    call(a, "StopTrainingJob", { TrainingJobName = JOB })
    local rules = rules_of(a, JOB)
    assert.are.equal("Stopping", rules[1].RuleEvaluationStatus)
    assert.are.equal(stop_at, rules[1].LastModifiedTime)
    advance(a, D.stopping + D.debug_rule_evaluation)
    rules = rules_of(a, JOB)
    assert.are.equal("Stopped", rules[1].RuleEvaluationStatus)
    assert.are.equal(stop_at + D.stopping, rules[1].LastModifiedTime)
    assert.is_truthy(rules[1].RuleEvaluationJobArn)
  end)

  it("never started when the job stopped before it started", function()
    local a = app()
    create(a, JOB, { "LossNotDecreasing" })
    call(a, "StopTrainingJob", { TrainingJobName = JOB })
    advance(a, D.stopping)
    local rules = rules_of(a, JOB)
    assert.are.equal("Stopped", rules[1].RuleEvaluationStatus)
    assert.is_nil(rules[1].RuleEvaluationJobArn)
  end)

  it("are absent for a job without rules", function()
    local a = app()
    create(a, JOB)
    assert.is_nil(rules_of(a, JOB))
  end)
end)
