-- bench/validate.lua - how long aws.validate takes over a typical
-- CreateTrainingJob request: the first call (decoding nothing, but building
-- the checkers it needs), a valid request (the quick pass) and an invalid
-- one (the ordered pass that words the errors). Prints microseconds per
-- call; a figure to watch, never asserted on.
--
--   smop exec bench/validate.lua [iterations]   (default 20000)
local json = require("smop.json")
local model = require("aws.model")
local task = require("smop.task")
local validate = require("aws.validate")

local iterations = tonumber((...)) or 20000
local sagemaker = assert(model.load("sagemaker"))

local function channel(name)
  return { ChannelName = name, ContentType = "text/csv",
    DataSource = { S3DataSource = { S3DataType = "S3Prefix", S3Uri = "s3://bucket/" .. name,
      S3DataDistributionType = "FullyReplicated" } } }
end

local request = {
  TrainingJobName = "xgboost-mnist-20191120-234235",
  AlgorithmSpecification = {
    TrainingImage = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
    TrainingInputMode = "File",
  },
  RoleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
  InputDataConfig = json.array({ channel("train"), channel("validation") }),
  OutputDataConfig = { S3OutputPath = "s3://bucket/xgboost-mnist/output" },
  ResourceConfig = { InstanceType = "ml.m5.large", InstanceCount = 1, VolumeSizeInGB = 5 },
  StoppingCondition = { MaxRuntimeInSeconds = 86400 },
  HyperParameters = { max_depth = "5", eta = "0.2", gamma = "4", min_child_weight = "6",
    silent = "0", objective = "multi:softmax", num_class = "10", num_round = "10" },
  Tags = json.array({ { Key = "team", Value = "ml" }, { Key = "cost-center", Value = "42" } }),
}

-- Yields now and then: the CPU budget counts per resume.
local function per_call(fn)
  local start = os.clock()
  for i = 1, iterations do
    fn()
    if i % 1000 == 0 then task.sleep(0) end
  end
  return (os.clock() - start) / iterations * 1e6
end

local start = os.clock()
assert(validate.request(sagemaker, "CreateTrainingJob", request))
print(string.format("first call (builds checkers): %8.1f us", (os.clock() - start) * 1e6))

print(string.format("valid request:                %8.1f us", per_call(function()
  assert(validate.request(sagemaker, "CreateTrainingJob", request))
end)))

request.ResourceConfig.InstanceCount = 0.5
request.TrainingJobName = "xgboost_mnist"
print(string.format("invalid request (2 errors):   %8.1f us", per_call(function()
  assert(not validate.request(sagemaker, "CreateTrainingJob", request))
end)))
