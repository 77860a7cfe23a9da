-- The TrainingJob kind's own status fields end to end, with
-- examples/xgboost-mnist-trainingjob-debugger.yaml: SageMaker Debugger's
-- rule evaluations mirrored into status.debugRuleEvaluationStatuses, and
-- followed after the job ended until every rule has its verdict.
-- (What every job kind shares: spec/kinds_job_spec.lua.)
local harness = require("spec.support.operator")
local task = require("smop.task")

local EXAMPLE = "examples/xgboost-mnist-trainingjob-debugger.yaml"
local RFC3339 = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"

local function rules(h, name)
  return h.status(name, "debugRuleEvaluationStatuses") or {}
end

local function rule_status(h, name)
  local r = rules(h, name)[1]
  return r and r.ruleEvaluationStatus
end

describe("TrainingJob with Debugger rules", function()
  it("sends the debugger config as maps and follows the rules past the job's end", function()
    harness.run({}, function(h)
      local obj = h.apply(EXAMPLE, "dbg-a")
      local name = "dbg-a-" .. obj.metadata.uid:gsub("-", "")
      h.wait("InProgress", function() return h.status("dbg-a") == "InProgress" end)

      local req = h.calls("CreateTrainingJob")[1].params
      assert.are.same({
        S3OutputPath = "s3://my-bucket/xgboost-debugger/hookconfig",
        HookParameters = { save_interval = "5" },
        CollectionConfigurations = {
          { CollectionName = "feature_importance", CollectionParameters = { save_interval = "5" } },
          { CollectionName = "losses", CollectionParameters = { save_interval = "500" } },
          { CollectionName = "average_shap", CollectionParameters = { save_interval = "5" } },
          { CollectionName = "metrics", CollectionParameters = { save_interval = "5" } },
        },
      }, req.DebugHookConfig)
      assert.are.same({ {
        RuleConfigurationName = "LossNotDecreasing",
        RuleEvaluatorImage = "895741380848.dkr.ecr.us-west-2.amazonaws.com/sagemaker-debugger-rules:latest",
        RuleParameters = { collection_names = "metrics", num_steps = "10",
          rule_to_invoke = "LossNotDecreasing" },
      } }, req.DebugRuleConfigurations)

      local list = rules(h, "dbg-a")
      assert.are.equal(1, #list)
      assert.are.equal("LossNotDecreasing", list[1].ruleConfigurationName)
      assert.are.equal("InProgress", list[1].ruleEvaluationStatus)
      assert.is_truthy(list[1].lastModifiedTime:match(RFC3339), list[1].lastModifiedTime)
      assert.is_nil(list[1].ruleEvaluationJobArn)   -- launched once the training job starts

      h.advance(10)
      local arn = h.wait("the rule's job", function() return rules(h, "dbg-a")[1].ruleEvaluationJobArn end)
      assert.is_truthy(arn:find(":processing-job/" .. name:sub(1, 25) .. "-lossnotdecreasing-", 1, true), arn)

      -- the training job completes; its rule is still evaluating
      h.advance(50)
      h.wait("Completed", function() return h.status("dbg-a") == "Completed" end)
      assert.are.equal("InProgress", rule_status(h, "dbg-a"))
      assert.is_truthy(h.status("dbg-a", "modelPath"))

      -- the operator keeps looking until the rule has its verdict
      h.advance(20)
      h.wait("NoIssuesFound", function() return rule_status(h, "dbg-a") == "NoIssuesFound" end)
      list = rules(h, "dbg-a")
      assert.are.equal(arn, list[1].ruleEvaluationJobArn)
      assert.is_nil(list[1].statusDetail)
      assert.are.equal("Completed", h.status("dbg-a"))

      -- ... and then stops looking
      local described = #h.calls("DescribeTrainingJob")
      task.sleep(0.3)   -- six poll intervals
      assert.are.equal(described, #h.calls("DescribeTrainingJob"))
      assert.are.equal(1, #h.calls("CreateTrainingJob"))
    end)
  end)

  it("shows a rule that found issues, with its details", function()
    harness.run({}, function(h)
      local obj = h.apply(EXAMPLE, "dbg-i")
      local name = "dbg-i-" .. obj.metadata.uid:gsub("-", "")
      local details = "RuleEvaluationConditionMet: Evaluation of the rule LossNotDecreasing at step 10 "
        .. "resulted in the condition being met"
      h.aws_fault({ kind = "fail", name = name .. "/LossNotDecreasing", reason = details })
      h.wait("InProgress", function() return h.status("dbg-i") == "InProgress" end)
      h.advance(60)
      h.wait("Completed", function() return h.status("dbg-i") == "Completed" end)
      h.advance(20)
      h.wait("IssuesFound", function() return rule_status(h, "dbg-i") == "IssuesFound" end)
      assert.are.equal(details, rules(h, "dbg-i")[1].statusDetail)
    end)
  end)

  it("accepts the old spelling ruleParameters for the hook's parameters", function()
    harness.run({}, function(h)
      h.apply(EXAMPLE, "dbg-o", function(o)
        local hook = o.spec.debugHookConfig
        hook.ruleParameters, hook.hookParameters = hook.hookParameters, nil
      end)
      h.wait("InProgress", function() return h.status("dbg-o") == "InProgress" end)
      local hook = h.calls("CreateTrainingJob")[1].params.DebugHookConfig
      assert.are.same({ save_interval = "5" }, hook.HookParameters)
    end)
  end)

  it("shows the rules stopping with the job on delete", function()
    harness.run({}, function(h)
      h.apply(EXAMPLE, "dbg-d")
      h.wait("InProgress", function() return h.status("dbg-d") == "InProgress" end)
      h.advance(15)
      h.wait("the rule's job", function() return rules(h, "dbg-d")[1].ruleEvaluationJobArn end)
      assert(h.kube:delete(h.path("dbg-d")))
      h.wait("Stopping", function() return h.status("dbg-d") == "Stopping" end)
      assert.are.equal("Stopping", rule_status(h, "dbg-d"))
      assert.are.equal(1, h.succeeded("StopTrainingJob"))
      h.advance(10)
      h.wait("the object gone", function()
        local _, err = h.get("dbg-d")
        return err and err.code == 404
      end)
    end)
  end)
end)
