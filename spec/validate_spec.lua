-- aws.validate against the real embedded models: AWS's wording, paths and
-- error order (lua/aws/validate.lua).
local json = require "smop.json"

-- Unsandboxed, require also returns the loader's second value, which
-- aws.model passes on to json.decode: load the model modules first so its
-- require answers from package.loaded with the text alone.
for _, name in ipairs({ "sagemaker", "application_autoscaling", "logs", "sts" }) do
  require("aws.models." .. name)
end
local model = require "aws.model"
local validate = require "aws.validate"

local sagemaker = assert(model.load("sagemaker"))
local A = json.array

-- A valid CreateTrainingJob request, fresh each time so cases can spoil it.
local function training_job()
  return {
    TrainingJobName = "xgboost-mnist",
    AlgorithmSpecification = {
      TrainingImage = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
      TrainingInputMode = "File",
    },
    RoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    InputDataConfig = A{
      { ChannelName = "train",
        DataSource = { S3DataSource = { S3DataType = "S3Prefix", S3Uri = "s3://bucket/train" } } },
      { ChannelName = "validation",
        DataSource = { S3DataSource = { S3DataType = "S3Prefix", S3Uri = "s3://bucket/validation" } } },
    },
    OutputDataConfig = { S3OutputPath = "s3://bucket/output" },
    ResourceConfig = { InstanceType = "ml.m5.large", InstanceCount = 1, VolumeSizeInGB = 5 },
    StoppingCondition = { MaxRuntimeInSeconds = 86400 },
    HyperParameters = { max_depth = "5", eta = "0.2", objective = "multi:softmax", num_class = "10" },
    VpcConfig = { SecurityGroupIds = A{ "sg-0123abcd" }, Subnets = A{ "subnet-0123abcd" } },
    Tags = A{ { Key = "team", Value = "ml" } },
    EnableManagedSpotTraining = false,
  }
end

local NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"

-- Validates and expects failure; returns message, errors, warnings.
local function invalid(params, operation, service_model)
  local ok, message, errors, warnings = validate.request(service_model or sagemaker,
    operation or "CreateTrainingJob", params)
  assert.is_nil(ok, "expected the request to be rejected")
  assert.is_string(message)
  return message, errors, warnings
end

local function one(text) return "1 validation error detected: " .. text end

describe("aws.validate", function()
  describe("CreateTrainingJob", function()
    it("accepts a valid request, with no warnings", function()
      local ok, warnings = validate.request(sagemaker, "CreateTrainingJob", training_job())
      assert.is_true(ok)
      assert.same({}, warnings)
    end)

    it("lists missing required members, sorted, as AWS words them", function()
      local message, errors = invalid({})
      assert.equal("6 validation errors detected: " ..
        "Value null at 'algorithmSpecification' failed to satisfy constraint: Member must not be null; " ..
        "Value null at 'outputDataConfig' failed to satisfy constraint: Member must not be null; " ..
        "Value null at 'resourceConfig' failed to satisfy constraint: Member must not be null; " ..
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; " ..
        "Value null at 'stoppingCondition' failed to satisfy constraint: Member must not be null; " ..
        "Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null",
        message)
      assert.equal("ValidationException", errors.code)
      assert.equal(6, #errors)
      assert.same({ path = "roleArn",
        message = "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" },
        errors[4])
    end)

    it("treats json.null as missing", function()
      local params = training_job()
      params.RoleArn = json.null
      assert.equal(one("Value null at 'roleArn' failed to satisfy constraint: Member must not be null"),
        (invalid(params)))
    end)

    it("checks the name against its pattern", function()
      local params = training_job()
      params.TrainingJobName = "xgboost_mnist"
      assert.equal(one("Value 'xgboost_mnist' at 'trainingJobName' failed to satisfy constraint: " ..
        "Member must satisfy regular expression pattern: " .. NAME_PATTERN), (invalid(params)))
    end)

    it("reports a too long name twice, pattern first, as AWS does", function()
      local params = training_job()
      params.TrainingJobName = string.rep("a", 64)
      local value = "Value '" .. string.rep("a", 64) ..
        "' at 'trainingJobName' failed to satisfy constraint: "
      assert.equal("2 validation errors detected: " ..
        value .. "Member must satisfy regular expression pattern: " .. NAME_PATTERN .. "; " ..
        value .. "Member must have length less than or equal to 63", (invalid(params)))
      params.TrainingJobName = string.rep("a", 63)
      assert.is_true(validate.request(sagemaker, "CreateTrainingJob", params))
    end)

    it("checks enums and numeric minimums in nested structures", function()
      local params = training_job()
      params.ResourceConfig = { InstanceType = "ml.m5.huge", InstanceCount = -1, VolumeSizeInGB = 0 }
      local message, errors = invalid(params)
      assert.equal(3, #errors)
      assert.equal("resourceConfig.instanceCount", errors[1].path)
      assert.equal("Value '-1' at 'resourceConfig.instanceCount' failed to satisfy constraint: " ..
        "Member must have value greater than or equal to 0", errors[1].message)
      assert.equal("resourceConfig.instanceType", errors[2].path)
      assert.matches("^Value 'ml.m5.huge' at 'resourceConfig.instanceType' failed to satisfy constraint: " ..
        "Member must satisfy enum value set: %[ml.m4.xlarge, ml.m4.2xlarge, .*, ml.trn1.32xlarge%]$",
        errors[2].message)
      assert.equal("Value '0' at 'resourceConfig.volumeSizeInGB' failed to satisfy constraint: " ..
        "Member must have value greater than or equal to 1", errors[3].message)
      assert.equal("3 validation errors detected: " .. errors[1].message .. "; " .. errors[2].message ..
        "; " .. errors[3].message, message)
    end)

    it("names list elements list.N.member, counting from 1", function()
      local params = training_job()
      params.InputDataConfig[2].DataSource.S3DataSource.S3Uri = "gs://bucket/validation"
      params.InputDataConfig[2].ChannelName = nil
      params.Tags[2] = { Key = "" }
      local _, errors = invalid(params)
      local paths = {}
      for i, e in ipairs(errors) do paths[i] = e.path end
      assert.same({
        "inputDataConfig.2.member.channelName",
        "inputDataConfig.2.member.dataSource.s3DataSource.s3Uri",
        "tags.2.member.key",
        "tags.2.member.value",
      }, paths)
      assert.equal("Value 'gs://bucket/validation' at " ..
        "'inputDataConfig.2.member.dataSource.s3DataSource.s3Uri' failed to satisfy constraint: " ..
        "Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$",
        errors[2].message)
      assert.equal("Value '' at 'tags.2.member.key' failed to satisfy constraint: " ..
        "Member must have length greater than or equal to 1", errors[3].message)
    end)

    it("checks a list of strings whole, listing the element's constraints", function()
      local params = training_job()
      params.VpcConfig = { SecurityGroupIds = A{ "sg-1", "sg 2" }, Subnets = A{} }
      local message = invalid(params)
      assert.equal("2 validation errors detected: " ..
        "Value '[sg-1, sg 2]' at 'vpcConfig.securityGroupIds' failed to satisfy constraint: " ..
        "Member must satisfy constraint: [Member must have length less than or equal to 32, " ..
        "Member must satisfy regular expression pattern: [-0-9a-zA-Z]+]; " ..
        "Value '[]' at 'vpcConfig.subnets' failed to satisfy constraint: " ..
        "Member must have length greater than or equal to 1", message)
      params.VpcConfig = { SecurityGroupIds = A{ "sg-1", json.null }, Subnets = A{ "subnet-1" } }
      assert.equal(one("Value '[sg-1, null]' at 'vpcConfig.securityGroupIds' failed to satisfy " ..
        "constraint: Member must satisfy constraint: [Member must have length less than or equal to 32, " ..
        "Member must satisfy regular expression pattern: [-0-9a-zA-Z]+, Member must not be null]"),
        (invalid(params)))
    end)

    it("checks the number of entries of lists and maps as their length", function()
      local params = training_job()
      params.VpcConfig.SecurityGroupIds = A{ "sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6" }
      assert.equal(one("Value '[sg-1, sg-2, sg-3, sg-4, sg-5, sg-6]' at 'vpcConfig.securityGroupIds' " ..
        "failed to satisfy constraint: Member must have length less than or equal to 5"), (invalid(params)))
      params = training_job()
      params.HyperParameters = {}
      for i = 1, 101 do params.HyperParameters[string.format("p%03d", i)] = "1" end
      local message = invalid(params)
      assert.matches("^1 validation error detected: Value '{p001=1, p002=1, .*, p101=1}' at " ..
        "'hyperParameters' failed to satisfy constraint: " ..
        "Member must have length less than or equal to 100$", message)
    end)

    it("checks map values whole, at the map's path", function()
      local params = training_job()
      params.HyperParameters = { eta = string.rep("9", 2501) }
      assert.equal(one("Value '{eta=" .. string.rep("9", 2501) .. "}' at 'hyperParameters' failed to " ..
        "satisfy constraint: Map value must satisfy constraint: [Member must have length less than or " ..
        "equal to 2500, Member must satisfy regular expression pattern: .*]"), (invalid(params)))
      -- Java's '.' does not match a line break: neither does the pattern here
      params.HyperParameters = { note = "two\nlines" }
      assert.matches("Map value must satisfy constraint", (invalid(params)))
    end)

    it("counts length in UTF-16 units, as Java does", function()
      local params = training_job()
      params.Tags = A{ { Key = "k", Value = string.rep("é", 256) } } -- 512 bytes, 256 units
      assert.is_true(validate.request(sagemaker, "CreateTrainingJob", params))
      -- an emoji is 4 bytes, 1 code point and 2 UTF-16 units
      params.HyperParameters = { k = string.rep("\u{1F600}", 1250) }
      assert.is_true(validate.request(sagemaker, "CreateTrainingJob", params))
      params.HyperParameters = { k = string.rep("\u{1F600}", 1251) }
      assert.matches("Member must have length less than or equal to 2500", (invalid(params)))
    end)

    it("answers a value of the wrong type as AWS does: one SerializationException", function()
      local cases = {
        { function(p) p.ResourceConfig.InstanceCount = "1" end,
          "STRING_VALUE can not be converted to an Integer", "resourceConfig.instanceCount" },
        { function(p) p.ResourceConfig.InstanceCount = true end,
          "TRUE_VALUE can not be converted to an Integer", "resourceConfig.instanceCount" },
        { function(p) p.TrainingJobName = 42 end,
          "NUMBER_VALUE can not be converted to a String", "trainingJobName" },
        { function(p) p.TrainingJobName = { "a" } end,
          "Start of list found where not expected", "trainingJobName" },
        { function(p) p.RoleArn = { arn = "x" } end,
          "Start of structure or map found where not expected.", "roleArn" },
        { function(p) p.EnableManagedSpotTraining = "false" end,
          "STRING_VALUE can not be converted to a Boolean", "enableManagedSpotTraining" },
        { function(p) p.InputDataConfig = "s3://bucket" end, "Expected list or null", "inputDataConfig" },
        { function(p) p.HyperParameters = A{ "a" } end,
          "Start of list found where not expected", "hyperParameters" },
        { function(p) p.ResourceConfig = "big" end, "Expected null", "resourceConfig" },
        { function(p) p.VpcConfig.Subnets = A{ "subnet-1", 2 } end,
          "NUMBER_VALUE can not be converted to a String", "vpcConfig.subnets.2.member" },
      }
      for _, c in ipairs(cases) do
        local params = training_job()
        params.TrainingJobName = "bad_name" -- a constraint error is not reported with a type error
        c[1](params)
        local message, errors = invalid(params)
        assert.equal(c[2], message)
        assert.equal("SerializationException", errors.code)
        assert.same({ { path = c[3], message = c[2] } }, { errors[1] })
        assert.equal("the value at '" .. c[3] .. "' has the wrong type: " .. c[2], validate.describe(errors))
      end
    end)

    it("wants whole numbers for integers", function()
      local params = training_job()
      params.ResourceConfig.InstanceCount = 1.5
      assert.equal(one("Value '1.5' at 'resourceConfig.instanceCount' failed to satisfy constraint: " ..
        "Member must be an integer"), (invalid(params)))
      params.ResourceConfig.InstanceCount = 2.0
      assert.is_true(validate.request(sagemaker, "CreateTrainingJob", params))
    end)

    it("warns about members the model does not know, and still accepts", function()
      local params = training_job()
      params.Foo = 1
      params.ResourceConfig.instanceCount = 2
      local ok, warnings = validate.request(sagemaker, "CreateTrainingJob", params)
      assert.is_true(ok)
      assert.same({
        { path = "Foo", message = "unknown member 'Foo' in the CreateTrainingJob request is ignored by AWS" },
        { path = "resourceConfig.instanceCount", message = "unknown member 'instanceCount' in " ..
          "'resourceConfig' is ignored by AWS (did you mean 'InstanceCount'?)" },
      }, warnings)
    end)

    it("returns the warnings with the errors too", function()
      local params = training_job()
      params.Bar = true
      params.RoleArn = nil
      local _, errors, warnings = invalid(params)
      assert.equal(1, #errors)
      assert.equal("Bar", warnings[1].path)
    end)

    it("gives the same answer whatever order the tables were built in", function()
      local a = training_job()
      a.TrainingJobName, a.RoleArn, a.ResourceConfig.InstanceCount = "-x", "y", 0.5
      local b = {}
      local keys = {}
      for k in pairs(a) do keys[#keys + 1] = k end
      table.sort(keys, function(x, y) return x > y end)
      for _, k in ipairs(keys) do b[k] = a[k] end
      assert.equal((invalid(a)), (invalid(b)))
      assert.equal((invalid(a)), (invalid(a)))
    end)
  end)

  describe("other SageMaker operations", function()
    it("CreateHyperParameterTuningJob: deep list paths", function()
      local message = invalid({
        HyperParameterTuningJobName = "hpo",
        HyperParameterTuningJobConfig = {
          Strategy = "Bayesian",
          ResourceLimits = { MaxParallelTrainingJobs = 0 },
          ParameterRanges = { IntegerParameterRanges = A{
            { Name = "max_depth", MinValue = "1", MaxValue = "10" },
            { MinValue = "1", MaxValue = "10" },
          } },
        },
      }, "CreateHyperParameterTuningJob")
      assert.equal("2 validation errors detected: " ..
        "Value null at " ..
        "'hyperParameterTuningJobConfig.parameterRanges.integerParameterRanges.2.member.name' " ..
        "failed to satisfy constraint: Member must not be null; " ..
        "Value '0' at 'hyperParameterTuningJobConfig.resourceLimits.maxParallelTrainingJobs' " ..
        "failed to satisfy constraint: Member must have value greater than or equal to 1", message)
    end)

    it("CreateEndpointConfig: floats print as Java prints doubles", function()
      local message = invalid({
        EndpointConfigName = "cfg",
        ProductionVariants = A{ { VariantName = "v1", ModelName = "m", InitialVariantWeight = -0.5 } },
      }, "CreateEndpointConfig")
      assert.equal(one("Value '-0.5' at 'productionVariants.1.member.initialVariantWeight' failed to " ..
        "satisfy constraint: Member must have value greater than or equal to 0.0"), message)
    end)

    it("accepts timestamps as epoch numbers or ISO 8601 text", function()
      local times = { 1700000000, 1700000000.5, "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.5+01:00" }
      for _, t in ipairs(times) do
        local ok = validate.request(sagemaker, "ListTrainingJobs", { CreationTimeAfter = t })
        assert.is_true(ok, tostring(t))
      end
      local message = invalid({ CreationTimeAfter = "yesterday" }, "ListTrainingJobs")
      assert.equal("STRING_VALUE can not be converted to milliseconds since epoch", message)
    end)

    it("answers an operation the model does not have", function()
      local message, errors = invalid({}, "CreateTrainingJobs")
      assert.equal("operation 'CreateTrainingJobs' is not in the SageMaker model", message)
      assert.equal("UnknownOperationException", errors.code)
    end)

    it("raises for params that are not a table: a caller's bug", function()
      assert.has_error(function() validate.request(sagemaker, "ListTrainingJobs", "x") end)
    end)
  end)

  describe("Application Auto Scaling", function()
    it("RegisterScalableTarget: enum, required and \\p{Print}-style Java patterns", function()
      local aas = assert(model.load("application-autoscaling"))
      local ok = validate.request(aas, "RegisterScalableTarget", {
        ServiceNamespace = "sagemaker",
        ResourceId = "endpoint/my-endpoint/variant/AllTraffic",
        ScalableDimension = "sagemaker:variant:DesiredInstanceCount",
        MinCapacity = 1, MaxCapacity = 4,
      })
      assert.is_true(ok)
      local message = invalid({ ServiceNamespace = "SageMaker", ResourceId = "endpoint/x\1" },
        "RegisterScalableTarget", aas)
      assert.matches("^3 validation errors detected: " ..
        "Value 'endpoint/x\1' at 'resourceId' failed to satisfy constraint: Member must satisfy regular " ..
        "expression pattern: %[\\u0020%-\\uD7FF\\uE000%-\\uFFFD\\uD800\\uDC00%-\\uDBFF\\uDFFF" ..
        "\\r\\n\\t%]%*; " ..
        "Value null at 'scalableDimension' failed to satisfy constraint: Member must not be null; " ..
        "Value 'SageMaker' at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum " ..
        "value set: %[ecs, elasticmapreduce, ec2, .*%]$", message)
    end)
  end)

  describe("CloudWatch Logs", function()
    it("GetLogEvents: lowerCamel members and an integer range", function()
      local logs = assert(model.load("logs"))
      local message = invalid({ logGroupName = "/aws/sagemaker/TrainingJobs", logStreamName = "a:b",
        limit = 10001 }, "GetLogEvents", logs)
      assert.equal("2 validation errors detected: " ..
        "Value '10001' at 'limit' failed to satisfy constraint: " ..
        "Member must have value less than or equal to 10000; " ..
        "Value 'a:b' at 'logStreamName' failed to satisfy constraint: " ..
        "Member must satisfy regular expression " ..
        "pattern: [^:*]*", message)
    end)
  end)

  describe("STS (query protocol)", function()
    it("words type errors as constraints that name the path, code ValidationError", function()
      local sts = assert(model.load("sts"))
      local message, errors = invalid({ RoleArn = "arn:aws:iam::123456789012:role/x",
        RoleSessionName = "s", DurationSeconds = "abc" }, "AssumeRole", sts)
      assert.equal("ValidationError", errors.code)
      assert.equal(one("Value 'abc' at 'durationSeconds' failed to satisfy constraint: " ..
        "Member must be an integer"),
        message)
      message = invalid({ RoleArn = "arn:aws:iam::123456789012:role/x", RoleSessionName = "a/b" },
        "AssumeRole", sts)
      assert.equal(one("Value 'a/b' at 'roleSessionName' failed to satisfy constraint: " ..
        "Member must satisfy " ..
        "regular expression pattern: [\\w+=,.@-]*"), message)
    end)
  end)
end)
