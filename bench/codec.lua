-- bench/codec.lua - how fast smop.json and smop.yaml handle a typical watch
-- event (a TrainingJob, about 1.3 KB of JSON). Prints microseconds per call;
-- a figure to watch, never asserted on.
--
--   smop exec bench/codec.lua [iterations]   (default 100000)
local json = require("smop.json")
local yaml = require("smop.yaml")

local iterations = tonumber((...)) or 100000

local job = {
  apiVersion = "sagemaker.aws.amazon.com/v1",
  kind = "TrainingJob",
  metadata = {
    name = "xgboost-mnist", namespace = "default", uid = "4b1c7c1e-5d2a-4f6e-9a51-0c2f3e1d9b77",
    resourceVersion = "123456", generation = 3, creationTimestamp = "2019-11-20T23:42:35Z",
    finalizers = json.array({ "sagemaker-operator-finalizer" }),
    labels = { ["app.kubernetes.io/name"] = "xgboost" },
  },
  spec = {
    region = "us-west-2",
    roleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
    trainingJobName = "xgboost-mnist-0001",
    hyperParameters = json.array({
      { name = "max_depth", value = "5" }, { name = "eta", value = "0.2" },
      { name = "gamma", value = "4" }, { name = "num_round", value = "10" },
    }),
    algorithmSpecification = {
      trainingImage = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
      trainingInputMode = "File",
    },
    outputDataConfig = { s3OutputPath = "s3://my-bucket/xgboost-mnist/models/" },
    inputDataConfig = json.array({
      { channelName = "train", contentType = "text/csv", compressionType = "None",
        dataSource = { s3DataSource = { s3DataType = "S3Prefix",
          s3Uri = "s3://my-bucket/xgboost-mnist/train/", s3DataDistributionType = "FullyReplicated" } } },
    }),
    resourceConfig = { instanceCount = 1, instanceType = "ml.m4.xlarge", volumeSizeInGB = 5 },
    stoppingCondition = { maxRuntimeInSeconds = 86400 },
    tags = json.array(),
  },
  status = { trainingJobStatus = "InProgress", secondaryStatus = "Training",
    lastCheckTime = "2019-11-20T23:50:00Z", additional = json.null },
}
local event = json.encode({ type = "MODIFIED", object = job })
local manifest = yaml.encode(job)

local function bench(name, fn)
  local start = os.clock()
  for _ = 1, iterations do fn() end
  local us = (os.clock() - start) / iterations * 1e6
  print(("%-28s %8.2f us/call %10.0f calls/s"):format(name, us, 1e6 / us))
end

print(("watch event: %d bytes of JSON, %d bytes of YAML; %d iterations")
  :format(#event, #manifest, iterations))
local decoded = json.decode(event)
bench("json.decode", function() json.decode(event) end)
bench("json.encode", function() json.encode(decoded) end)
bench("json.encode sorted", function() json.encode(decoded, { sorted = true }) end)
bench("yaml.decode", function() yaml.decode(manifest) end)
bench("yaml.encode", function() yaml.encode(decoded.object) end)
