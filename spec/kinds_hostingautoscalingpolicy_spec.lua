-- HostingAutoscalingPolicy end to end: the operator against fake-kube and
-- fake-aws. The endpoints it scales are made directly in the fake SageMaker
-- (CreateModel, CreateEndpointConfig, CreateEndpoint), not by a
-- HostingDeployment, so only this kind runs.
local fa = require("spec.support.fake_aws")
local harness = require("spec.support.operator")
local json = require("smop.json")

local PLURAL = "hostingautoscalingpolicies"
local AAS = "application-autoscaling"
local DIM = "sagemaker:variant:DesiredInstanceCount"
local DEFAULT_POLICY = "SageMakerEndpointInvocationScalingPolicy"
local PREDEFINED = "examples/hap-predefined-metric.yaml"
local CUSTOM = "examples/hap-custom-metric.yaml"
local OPTS = { kinds = { "hostingautoscalingpolicy" } }

local function id_of(endpoint, variant)
  return "endpoint/" .. endpoint .. "/variant/" .. (variant or "AllTraffic")
end

-- A call straight to the fake AWS, in the examples' region; its answer.
local function aws(h, service, op, params)
  local status, _, body, out = fa.call(h.aws_app, service, op, params, { region = "us-west-2" })
  assert(status == 200, op .. ": " .. tostring(body))
  return out
end

-- Starts creating endpoint `name` with one variant AllTraffic (Creating for
-- 30 virtual seconds; h.advance(30) makes it InService).
local function create_endpoint(h, name)
  aws(h, "sagemaker", "CreateModel", { ModelName = name .. "-model",
    ExecutionRoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    PrimaryContainer = { Image = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1" } })
  aws(h, "sagemaker", "CreateEndpointConfig", { EndpointConfigName = name .. "-config",
    ProductionVariants = json.array({ { VariantName = "AllTraffic", ModelName = name .. "-model",
      InitialInstanceCount = 1, InstanceType = "ml.m5.large" } }) })
  aws(h, "sagemaker", "CreateEndpoint", { EndpointName = name, EndpointConfigName = name .. "-config" })
end

local function in_service(h, ...)
  for _, name in ipairs({ ... }) do create_endpoint(h, name) end
  h.advance(30)
  for _, name in ipairs({ ... }) do
    local e = aws(h, "sagemaker", "DescribeEndpoint", { EndpointName = name })
    assert.are.equal("InService", e.EndpointStatus)
  end
end

local function status(h, name, field)
  return h.status(name, field or "hostingAutoscalingPolicyStatus", PLURAL)
end

local function wait_status(h, name, value)
  return h.wait(name .. " " .. value, function() return status(h, name) == value and h.get(name, PLURAL) end)
end

-- The params of the successful calls to op, in order.
local function sent(h, op)
  local out = {}
  for _, c in ipairs(h.calls(op, AAS)) do
    if c.error == json.null or c.error == nil then out[#out + 1] = c.params end
  end
  return out
end

local function targets(h)
  local out = {}
  local answer = aws(h, AAS, "DescribeScalableTargets", { ServiceNamespace = "sagemaker" })
  for _, t in ipairs(answer.ScalableTargets) do
    out[#out + 1] = t.ResourceId
  end
  table.sort(out)
  return out
end

local function policies(h)
  return aws(h, AAS, "DescribeScalingPolicies", { ServiceNamespace = "sagemaker" }).ScalingPolicies
end

local function reasons(h, name)
  local out = {}
  for _, e in ipairs(h.events(name)) do out[e.reason] = (out[e.reason] or 0) + (e.count or 1) end
  return out
end

local function gone(h, name)
  return h.wait(name .. " gone", function()
    local _, err = h.get(name, PLURAL)
    return err and err.code == 404
  end)
end

describe("HostingAutoscalingPolicy", function()
  it("registers each variant and puts the policy, defaults filled (predefined metric)", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.apply(PREDEFINED, "hap-a")
      local obj = wait_status(h, "hap-a", "Created")
      local id = id_of("xgboost-mnist")
      assert.are.same({ {
        ServiceNamespace = "sagemaker", ResourceId = id, ScalableDimension = DIM,
        MinCapacity = 1, MaxCapacity = 2,
        SuspendedState = { DynamicScalingInSuspended = false, DynamicScalingOutSuspended = false,
          ScheduledScalingSuspended = false },
      } }, sent(h, "RegisterScalableTarget"))
      assert.are.same({ {
        PolicyName = DEFAULT_POLICY, ServiceNamespace = "sagemaker", ResourceId = id, ScalableDimension = DIM,
        PolicyType = "TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration = { TargetValue = 60, ScaleInCooldown = 700,
          ScaleOutCooldown = 300, DisableScaleIn = true,
          PredefinedMetricSpecification = {
            PredefinedMetricType = "SageMakerVariantInvocationsPerInstance" } },
      } }, sent(h, "PutScalingPolicy"))
      assert.are.equal(DEFAULT_POLICY, obj.status.policyName)
      assert.are.same({ id }, obj.status.resourceIDList)
      assert.is_nil(obj.status.additional)
      assert.are.same({ id }, targets(h))
      assert.are.equal(1, #policies(h))
      -- recorded first, then applied: Reconciling came before Created
      assert.are.equal(1, reasons(h, "hap-a").Applied)
      assert.are.equal(0, #h.calls("DeleteScalingPolicy", AAS) + #h.calls("DeregisterScalableTarget", AAS))
    end)
  end)

  it("sends a customized metric's dimensions as Name/Value pairs, and the suspended state", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.apply(CUSTOM, "hap-c")
      wait_status(h, "hap-c", "Created")
      local reg = sent(h, "RegisterScalableTarget")
      assert.are.equal(1, #reg)
      assert.are.same({ DynamicScalingInSuspended = true, DynamicScalingOutSuspended = false,
        ScheduledScalingSuspended = false }, reg[1].SuspendedState)
      local put = sent(h, "PutScalingPolicy")
      assert.are.equal(1, #put)
      assert.are.same({ TargetValue = 60, ScaleInCooldown = 700, ScaleOutCooldown = 300,
        CustomizedMetricSpecification = {
          MetricName = "CPUUtilization", Namespace = "/aws/sagemaker/Endpoints",
          Dimensions = { { Name = "EndpointName", Value = "xgboost-mnist" },
            { Name = "VariantName", Value = "AllTraffic" } },
          Statistic = "Average", Unit = "Percent" } }, put[1].TargetTrackingScalingPolicyConfiguration)
      assert.are.equal(DEFAULT_POLICY, put[1].PolicyName)
      local p = policies(h)[1]
      assert.are.same({ "TargetTrackingScaling", 2 }, { p.PolicyType, #p.Alarms })
    end)
  end)

  it("waits for an endpoint that does not exist yet, then applies once it is InService", function()
    harness.run(OPTS, function(h)
      h.apply(PREDEFINED, "hap-w")
      local obj = h.wait("the reason", function()
        local o = h.get("hap-w", PLURAL)
        local why = o and o.status and o.status.additional
        return why and why:find("does not exist", 1, true) and o
      end)
      assert.are.equal("Reconciling", obj.status.hostingAutoscalingPolicyStatus)
      assert.matches("^SageMaker endpoint xgboost%-mnist does not exist %(yet%); the scaling policy is "
        .. "applied once it is InService", obj.status.additional)
      assert.are.same({ id_of("xgboost-mnist") }, obj.status.resourceIDList)

      create_endpoint(h, "xgboost-mnist")
      obj = h.wait("Creating", function()
        local o = h.get("hap-w", PLURAL)
        return o.status.additional and o.status.additional:find("is Creating", 1, true) and o
      end)
      assert.are.equal("Reconciling", obj.status.hostingAutoscalingPolicyStatus)
      -- the fake refuses as AWS does, in the words clients match
      local refused = h.calls("RegisterScalableTarget", AAS)
      assert.are.equal("ValidationException", refused[#refused].error)
      assert.are.equal(0, #h.calls("PutScalingPolicy", AAS))

      h.advance(30)
      obj = wait_status(h, "hap-w", "Created")
      assert.is_nil(obj.status.additional)
      assert.are.equal(1, #sent(h, "RegisterScalableTarget"))
      assert.are.equal(1, #sent(h, "PutScalingPolicy"))
      assert.are.same({ id_of("xgboost-mnist") }, targets(h))
      local ev = reasons(h, "hap-w")
      assert.is_truthy(ev.WaitingForEndpoint)
      assert.is_nil(ev.InvalidSpec)
    end)
  end)

  it("updates the policy in place, and moves to a new resource list by removing the old", function()
    harness.run(OPTS, function(h)
      in_service(h, "ep-one", "ep-two")
      local one, two = id_of("ep-one"), id_of("ep-two")
      h.apply(PREDEFINED, "hap-u", function(o) o.spec.resourceId[1].endpointName = "ep-one" end)
      local obj = wait_status(h, "hap-u", "Created")
      local arn = policies(h)[1].PolicyARN

      -- a new target value: put again, nothing deleted
      local spec = obj.spec
      spec.targetTrackingScalingPolicyConfiguration.targetValue = 80
      assert(h.kube:patch(h.path("hap-u", PLURAL), { spec = { targetTrackingScalingPolicyConfiguration =
        spec.targetTrackingScalingPolicyConfiguration } }))
      h.wait("the second put", function() return #sent(h, "PutScalingPolicy") == 2 end)
      h.wait("Created again", function()
        local o = h.get("hap-u", PLURAL)
        return o.status.observedGeneration == o.metadata.generation
          and o.status.hostingAutoscalingPolicyStatus == "Created" and o
      end)
      local function target_value(p) return p.TargetTrackingScalingPolicyConfiguration.TargetValue end
      assert.are.equal(80, target_value(sent(h, "PutScalingPolicy")[2]))
      local p = policies(h)
      assert.are.same({ 1, arn, 80 }, { #p, p[1].PolicyARN, target_value(p[1]) })
      assert.are.equal(0, #h.calls("DeleteScalingPolicy", AAS) + #h.calls("DeregisterScalableTarget", AAS))

      -- another endpoint: the old policy and target go, the new ones come
      assert(h.kube:patch(h.path("hap-u", PLURAL), { spec = { resourceId = json.array({
        { endpointName = "ep-two", variantName = "AllTraffic" } }) } }))
      h.wait("the new list applied", function()
        local o = h.get("hap-u", PLURAL)
        return o.status.hostingAutoscalingPolicyStatus == "Created" and #o.status.resourceIDList == 1
          and o.status.resourceIDList[1] == two and o
      end)
      assert.are.same({ { PolicyName = DEFAULT_POLICY, ServiceNamespace = "sagemaker", ResourceId = one,
        ScalableDimension = DIM } }, sent(h, "DeleteScalingPolicy"))
      assert.are.same({ { ServiceNamespace = "sagemaker", ResourceId = one, ScalableDimension = DIM } },
        sent(h, "DeregisterScalableTarget"))
      local reg = sent(h, "RegisterScalableTarget")
      assert.are.equal(two, reg[#reg].ResourceId)
      assert.are.same({ two }, targets(h))
      p = policies(h)
      assert.are.same({ 1, two, 80 }, { #p, p[1].ResourceId, target_value(p[1]) })

      -- a new policy name: the old policy goes, the target stays
      assert(h.kube:patch(h.path("hap-u", PLURAL), { spec = { policyName = "Invocations" } }))
      h.wait("the renamed policy", function()
        local o = h.get("hap-u", PLURAL)
        return o.status.hostingAutoscalingPolicyStatus == "Created" and o.status.policyName == "Invocations"
      end)
      local deleted = sent(h, "DeleteScalingPolicy")
      assert.are.same({ DEFAULT_POLICY, two }, { deleted[#deleted].PolicyName, deleted[#deleted].ResourceId })
      assert.are.equal(1, #sent(h, "DeregisterScalableTarget"))
      p = policies(h)
      assert.are.same({ 1, "Invocations", two }, { #p, p[1].PolicyName, p[1].ResourceId })
      assert.are.same({ two }, targets(h))
    end)
  end)

  it("retries a concurrent update soon instead of calling it an error", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.aws_fault({ kind = "error", status = 400, code = "ConcurrentUpdateException", count = 1,
        message = "Concurrent update", service = AAS, operation = "PutScalingPolicy" })
      h.apply(PREDEFINED, "hap-cu")
      -- an Error would be looked at again only after error_interval (60 s here)
      wait_status(h, "hap-cu", "Created")
      assert.are.equal("ConcurrentUpdateException", h.calls("PutScalingPolicy", AAS)[1].error)
      assert.are.equal(1, reasons(h, "hap-cu").ConcurrentUpdateException)
      assert.are.equal(1, #policies(h))
    end)
  end)

  it("deletes the policy and deregisters the target on delete", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.apply(PREDEFINED, "hap-d")
      wait_status(h, "hap-d", "Created")
      assert(h.kube:delete(h.path("hap-d", PLURAL)))
      gone(h, "hap-d")
      local id = id_of("xgboost-mnist")
      assert.are.same({ { PolicyName = DEFAULT_POLICY, ServiceNamespace = "sagemaker", ResourceId = id,
        ScalableDimension = DIM } }, sent(h, "DeleteScalingPolicy"))
      assert.are.same({ { ServiceNamespace = "sagemaker", ResourceId = id, ScalableDimension = DIM } },
        sent(h, "DeregisterScalableTarget"))
      assert.are.same({}, targets(h))
      assert.are.same({}, policies(h))
    end)
  end)

  it("counts a policy and target already gone as deleted", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.apply(PREDEFINED, "hap-g")
      wait_status(h, "hap-g", "Created")
      local id = id_of("xgboost-mnist")
      aws(h, AAS, "DeregisterScalableTarget", { ServiceNamespace = "sagemaker", ResourceId = id,
        ScalableDimension = DIM })
      assert(h.kube:delete(h.path("hap-g", PLURAL)))
      gone(h, "hap-g")
      local del, dereg = h.calls("DeleteScalingPolicy", AAS), h.calls("DeregisterScalableTarget", AAS)
      assert.are.same({ 1, "ObjectNotFoundException" }, { #del, del[1].error })
      assert.are.same({ 2, "ObjectNotFoundException" }, { #dereg, dereg[2].error })
    end)
  end)

  it("applies a policy again when it was deleted behind its back", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.apply(PREDEFINED, "hap-r")
      wait_status(h, "hap-r", "Created")
      aws(h, AAS, "DeleteScalingPolicy", { PolicyName = DEFAULT_POLICY, ServiceNamespace = "sagemaker",
        ResourceId = id_of("xgboost-mnist"), ScalableDimension = DIM })
      assert.are.same({}, policies(h))
      -- the look after RECHECK poll intervals (1 s here) finds it gone
      h.wait("the policy back", function() return #policies(h) == 1 end)
      assert.are.equal(2, #sent(h, "PutScalingPolicy"))
      assert.are.equal(1, reasons(h, "hap-r").PolicyMissing)
      assert.are.equal("Created", status(h, "hap-r"))
    end)
  end)

  it("waits again when its endpoint is deleted, and applies again once it is back", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.apply(PREDEFINED, "hap-e")
      wait_status(h, "hap-e", "Created")
      -- deleting the endpoint deregisters its targets (AWS does, when the caller may)
      aws(h, "sagemaker", "DeleteEndpoint", { EndpointName = "xgboost-mnist" })
      assert.are.same({}, targets(h))
      h.wait("Deleting", function()
        local o = h.get("hap-e", PLURAL)
        return o.status.hostingAutoscalingPolicyStatus == "Reconciling"
          and o.status.additional == "SageMaker endpoint xgboost-mnist is Deleting; the scaling policy is "
            .. "applied once it is InService (checked every 0.05 s)"
      end)
      h.advance(10)
      h.wait("gone", function()
        local o = h.get("hap-e", PLURAL)
        return o.status.additional and o.status.additional:find("does not exist", 1, true)
      end)
      aws(h, "sagemaker", "CreateEndpoint", { EndpointName = "xgboost-mnist",
        EndpointConfigName = "xgboost-mnist-config" })
      h.advance(30)
      wait_status(h, "hap-e", "Created")
      assert.are.same({ id_of("xgboost-mnist") }, targets(h))
      assert.are.equal(2, #sent(h, "PutScalingPolicy"))
      -- one event per reason (Deleting, then gone), however many looks
      local ev = reasons(h, "hap-e")
      assert.are.same({ 1, 2 }, { ev.PolicyMissing, ev.WaitingForEndpoint })
    end)
  end)

  it("refuses a spec the API would refuse half-way, naming the field, before any call", function()
    harness.run(OPTS, function(h)
      in_service(h, "xgboost-mnist")
      h.apply(PREDEFINED, "hap-x", function(o) o.spec.minCapacity = 3 end)
      local obj = wait_status(h, "hap-x", "Error")
      assert.are.equal("spec.minCapacity (3) must not be greater than spec.maxCapacity (2)",
        obj.status.additional)
      h.apply(PREDEFINED, "hap-y", function(o) o.spec.targetTrackingScalingPolicyConfiguration = nil end)
      obj = wait_status(h, "hap-y", "Error")
      assert.matches("^spec%.targetTrackingScalingPolicyConfiguration is required", obj.status.additional)
      h.apply(PREDEFINED, "hap-z", function(o)
        o.spec.targetTrackingScalingPolicyConfiguration.customizedMetricSpecification = {
          metricName = "CPUUtilization", namespace = "/aws/sagemaker/Endpoints", statistic = "Average" }
      end)
      obj = wait_status(h, "hap-z", "Error")
      assert.matches("needs exactly one of predefinedMetricSpecification and customizedMetricSpecification",
        obj.status.additional)
      assert.are.equal(0, #h.calls("RegisterScalableTarget", AAS) + #h.calls("PutScalingPolicy", AAS))
      assert.is_truthy(reasons(h, "hap-x").InvalidSpec)

      -- fixed: applied
      assert(h.kube:patch(h.path("hap-x", PLURAL), { spec = { minCapacity = 1 } }))
      obj = wait_status(h, "hap-x", "Created")
      assert.is_nil(obj.status.additional)
      assert.are.equal(1, #sent(h, "RegisterScalableTarget"))
      -- an object that never reached AWS goes at once
      assert(h.kube:delete(h.path("hap-y", PLURAL)))
      gone(h, "hap-y")
      assert.are.equal(0, #h.calls("DeregisterScalableTarget", AAS))
    end)
  end)
end)
