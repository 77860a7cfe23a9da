-- The fake Application Auto Scaling through the real server and aws.client:
-- scalable targets for SageMaker endpoint variants and their policies.
local fa = require("spec.support.fake_aws")

local DIM = "sagemaker:variant:DesiredInstanceCount"

-- SageMaker as far as Auto Scaling asks it: variants "AllTraffic" of
-- endpoints "ep1".."ep9" exist in us-east-1 and us-west-2 (unless a test
-- deleted them), all InService but ep9, which is still Creating.
local deleted = {}
local sagemaker = {
  operations = {},
  variant_exists = function(_, endpoint, variant, region)
    local exists = (region == "us-east-1" or region == "us-west-2") and endpoint:match("^ep%d$") ~= nil
      and variant == "AllTraffic" and not deleted[endpoint]
    return exists, exists and (endpoint == "ep9" and "Creating" or "InService") or nil
  end,
}

local function serve(fn)
  fa.serve({ modules = { sagemaker = sagemaker } }, function(env)
    fn(env.client("application-autoscaling"), env)
  end)
end

local function ok(out, err)
  assert(out, err and tostring(err))
  return out
end

local function target(id, extra)
  local t = { ServiceNamespace = "sagemaker", ResourceId = id, ScalableDimension = DIM }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

describe("fake-aws Application Auto Scaling", function()
  it("registers a variant's scalable target, updates it and describes it", function()
    serve(function(aas)
      ok(aas:call("RegisterScalableTarget", target("endpoint/ep1/variant/AllTraffic",
        { MinCapacity = 1, MaxCapacity = 4 })))
      local out = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker" }))
      assert.are.equal(1, #out.ScalableTargets)
      local t = out.ScalableTargets[1]
      assert.are.same({ "endpoint/ep1/variant/AllTraffic", DIM, 1, 4 },
        { t.ResourceId, t.ScalableDimension, t.MinCapacity, t.MaxCapacity })
      assert.matches("AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint$", t.RoleARN)
      assert.is_number(t.CreationTime)
      assert.are.same({ DynamicScalingInSuspended = false, DynamicScalingOutSuspended = false,
        ScheduledScalingSuspended = false }, t.SuspendedState)
      -- an update may give only what changes
      ok(aas:call("RegisterScalableTarget", target("endpoint/ep1/variant/AllTraffic", { MaxCapacity = 8,
        SuspendedState = { DynamicScalingInSuspended = true } })))
      t = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker",
        ResourceIds = { "endpoint/ep1/variant/AllTraffic" } })).ScalableTargets[1]
      assert.are.same({ 1, 8, true },
        { t.MinCapacity, t.MaxCapacity, t.SuspendedState.DynamicScalingInSuspended })
    end)
  end)

  it("checks the resource id, the variant and the capacities", function()
    serve(function(aas)
      local cap = { MinCapacity = 1, MaxCapacity = 2 }
      local cases = {
        { target("endpoint/ep1/AllTraffic", cap),
          "expected endpoint/<endpoint%-name>/variant/<variant%-name>" },
        { target("endpoint/bad_name/variant/AllTraffic", cap), "Unsupported resource ID" },
        { target("endpoint/nothere/variant/AllTraffic", cap), "does not exist" },
        { target("endpoint/ep9/variant/AllTraffic", cap), "^Endpoint ep9 is in status Creating%. The status "
          .. "should be in 'InService' to register it as a scalable target$" },
        { target("endpoint/ep1/variant/AllTraffic"), "MinCapacity and MaxCapacity are required" },
        { target("endpoint/ep1/variant/AllTraffic", { MinCapacity = 3, MaxCapacity = 2 }),
          "Minimum capacity %(3%) cannot be greater than maximum capacity %(2%)" },
        { { ServiceNamespace = "ecs", ResourceId = "service/c/s", ScalableDimension = DIM, MinCapacity = 1,
          MaxCapacity = 2 }, "does not belong to service namespace ecs" },
      }
      for _, c in ipairs(cases) do
        local out, err = aas:call("RegisterScalableTarget", c[1])
        assert.is_nil(out, c[1].ResourceId)
        assert.are.equal("ValidationException", err.code)
        assert.matches(c[2], err.message)
      end
      local out = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker" }))
      assert.are.equal(0, #out.ScalableTargets)
    end)
  end)

  it("validates requests against the model with AWS's wording", function()
    serve(function(aas)
      local _, err = aas:call("RegisterScalableTarget", { ServiceNamespace = "sagemaker",
        ResourceId = "endpoint/ep1/variant/AllTraffic", ScalableDimension = "sagemaker:variant:Nope" })
      assert.are.equal("ValidationException", err.code)
      assert.matches("^1 validation error detected: Value 'sagemaker:variant:Nope' at 'scalableDimension' "
        .. "failed to satisfy constraint: Member must satisfy enum value set", err.message)
    end)
  end)

  it("pages targets with MaxResults and NextToken, and refuses a foreign token", function()
    serve(function(aas)
      for i = 1, 5 do
        ok(aas:call("RegisterScalableTarget", target("endpoint/ep" .. i .. "/variant/AllTraffic",
          { MinCapacity = 1, MaxCapacity = 2 })))
      end
      local seen, token = {}, nil
      repeat
        local out = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker", MaxResults = 2,
          NextToken = token }))
        assert.is_true(#out.ScalableTargets <= 2)
        for _, t in ipairs(out.ScalableTargets) do seen[#seen + 1] = t.ResourceId end
        token = out.NextToken
      until not token
      assert.are.same({ "endpoint/ep1/variant/AllTraffic", "endpoint/ep2/variant/AllTraffic",
        "endpoint/ep3/variant/AllTraffic", "endpoint/ep4/variant/AllTraffic",
        "endpoint/ep5/variant/AllTraffic" }, seen)
      local _, err = aas:call("DescribeScalableTargets",
        { ServiceNamespace = "sagemaker", NextToken = "nope" })
      assert.are.same({ "InvalidNextTokenException", "Invalid token" }, { err.code, err.message })
      -- a token from another query is foreign too
      local out = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker", MaxResults = 1 }))
      _, err = aas:call("DescribeScalingPolicies",
        { ServiceNamespace = "sagemaker", NextToken = out.NextToken })
      assert.are.equal("InvalidNextTokenException", err.code)
    end)
  end)

  it("puts target tracking and step policies, on registered targets only", function()
    serve(function(aas)
      local id = "endpoint/ep1/variant/AllTraffic"
      local tracking = { TargetValue = 70, PredefinedMetricSpecification = {
        PredefinedMetricType = "SageMakerVariantInvocationsPerInstance" }, ScaleInCooldown = 300 }
      local _, err = aas:call("PutScalingPolicy", target(id, { PolicyName = "p1",
        PolicyType = "TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration = tracking }))
      assert.are.equal("ObjectNotFoundException", err.code)
      assert.are.equal("No scalable target registered for service namespace: sagemaker, resource ID: "
        .. id .. ", scalable dimension: " .. DIM, err.message)

      ok(aas:call("RegisterScalableTarget", target(id, { MinCapacity = 1, MaxCapacity = 4 })))
      local out = ok(aas:call("PutScalingPolicy", target(id, { PolicyName = "p1",
        PolicyType = "TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration = tracking })))
      assert.matches("^arn:aws:autoscaling:us%-east%-1:123456789012:scalingPolicy:[%x%-]+:resource/sagemaker/"
        .. "endpoint/ep1/variant/AllTraffic:policyName/p1$", out.PolicyARN)
      assert.are.equal(2, #out.Alarms)
      assert.matches("^TargetTracking%-endpoint/ep1/variant/AllTraffic%-AlarmHigh%-", out.Alarms[1].AlarmName)
      local arn = out.PolicyARN

      -- putting it again updates it in place
      tracking.TargetValue = 50
      out = ok(aas:call("PutScalingPolicy", target(id, { PolicyName = "p1",
        PolicyType = "TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration = tracking })))
      assert.are.equal(arn, out.PolicyARN)

      ok(aas:call("PutScalingPolicy", target(id, { PolicyName = "p2", PolicyType = "StepScaling",
        StepScalingPolicyConfiguration = { AdjustmentType = "ChangeInCapacity",
          StepAdjustments = { { MetricIntervalLowerBound = 0, ScalingAdjustment = 1 } } } })))
      _, err = aas:call("PutScalingPolicy",
        target(id, { PolicyName = "p3", PolicyType = "TargetTrackingScaling" }))
      assert.are.equal("ValidationException", err.code)

      local policies = ok(aas:call("DescribeScalingPolicies",
        { ServiceNamespace = "sagemaker", ResourceId = id })).ScalingPolicies
      assert.are.equal(2, #policies)
      assert.are.same({ "p1", "TargetTrackingScaling", 50 }, { policies[1].PolicyName, policies[1].PolicyType,
        policies[1].TargetTrackingScalingPolicyConfiguration.TargetValue })
      assert.are.same({ "p2", "StepScaling", 0 },
        { policies[2].PolicyName, policies[2].PolicyType, #policies[2].Alarms })
      policies = ok(aas:call("DescribeScalingPolicies",
        { ServiceNamespace = "sagemaker", PolicyNames = { "p2" } })).ScalingPolicies
      assert.are.equal(1, #policies)
    end)
  end)

  it("deletes policies, and deregistering a target takes its policies along", function()
    serve(function(aas)
      local id = "endpoint/ep1/variant/AllTraffic"
      ok(aas:call("RegisterScalableTarget", target(id, { MinCapacity = 1, MaxCapacity = 4 })))
      for _, name in ipairs({ "a", "b" }) do
        ok(aas:call("PutScalingPolicy", target(id, { PolicyName = name, PolicyType = "TargetTrackingScaling",
          TargetTrackingScalingPolicyConfiguration = { TargetValue = 10, PredefinedMetricSpecification = {
            PredefinedMetricType = "SageMakerVariantInvocationsPerInstance" } } })))
      end
      ok(aas:call("DeleteScalingPolicy", target(id, { PolicyName = "a" })))
      local _, err = aas:call("DeleteScalingPolicy", target(id, { PolicyName = "a" }))
      assert.are.same({ "ObjectNotFoundException", "No scaling policy found for service namespace: "
        .. "sagemaker, resource ID: " .. id .. ", scalable dimension: " .. DIM .. ", policy name: a" },
        { err.code, err.message })
      ok(aas:call("DeregisterScalableTarget", target(id)))
      _, err = aas:call("DeregisterScalableTarget", target(id))
      assert.are.equal("ObjectNotFoundException", err.code)
      assert.matches("^No scalable target found for service namespace: sagemaker", err.message)
      local out = ok(aas:call("DescribeScalingPolicies", { ServiceNamespace = "sagemaker" }))
      assert.are.equal(0, #out.ScalingPolicies)
    end)
  end)

  it("keeps each region's targets apart", function()
    serve(function(aas, env)
      local west = env.client("application-autoscaling", nil, { region = "us-west-2" })
      ok(west:call("RegisterScalableTarget", target("endpoint/ep1/variant/AllTraffic",
        { MinCapacity = 1, MaxCapacity = 2 })))
      assert.are.equal(1, #ok(west:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker" }))
        .ScalableTargets)
      assert.are.equal(0, #ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker" }))
        .ScalableTargets)
      local _, err = aas:call("DeregisterScalableTarget", target("endpoint/ep1/variant/AllTraffic"))
      assert.are.equal("ObjectNotFoundException", err.code)
    end)
  end)

  it("deregisters the targets of a deleted endpoint, policies included", function()
    serve(function(aas)
      for _, ep in ipairs({ "ep1", "ep2" }) do
        local id = "endpoint/" .. ep .. "/variant/AllTraffic"
        ok(aas:call("RegisterScalableTarget", target(id, { MinCapacity = 1, MaxCapacity = 2 })))
        ok(aas:call("PutScalingPolicy", target(id, { PolicyName = "p", PolicyType = "TargetTrackingScaling",
          TargetTrackingScalingPolicyConfiguration = { TargetValue = 10, PredefinedMetricSpecification = {
            PredefinedMetricType = "SageMakerVariantInvocationsPerInstance" } } })))
      end
      deleted.ep1 = true
      local out = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker" }))
      deleted.ep1 = nil
      assert.are.equal(1, #out.ScalableTargets)
      assert.are.equal("endpoint/ep2/variant/AllTraffic", out.ScalableTargets[1].ResourceId)
      local policies = ok(aas:call("DescribeScalingPolicies", { ServiceNamespace = "sagemaker" }))
        .ScalingPolicies
      assert.are.equal(1, #policies)
      assert.are.equal("endpoint/ep2/variant/AllTraffic", policies[1].ResourceId)
    end)
  end)

  it("accepts other namespaces as plain records", function()
    serve(function(aas)
      ok(aas:call("RegisterScalableTarget", { ServiceNamespace = "ecs", ResourceId = "service/c/s",
        ScalableDimension = "ecs:service:DesiredCount", MinCapacity = 0, MaxCapacity = 3 }))
      local out = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "ecs" }))
      assert.are.equal(1, #out.ScalableTargets)
      out = ok(aas:call("DescribeScalableTargets", { ServiceNamespace = "sagemaker" }))
      assert.are.equal(0, #out.ScalableTargets)
    end)
  end)
end)
