-- bench/informer.lua - how fast a smop.kube informer takes in a LIST and a
-- watch stream, decoded into Lua tables, and what its store costs per
-- object. The API server is smop.server in the same process, writing
-- pre-encoded lines (so its share of the one thread is small but counted).
-- Prints figures to watch, never asserted on.
--
--   smop exec bench/informer.lua [objects] [watch_events]   (default 20000 50000)
local json = require("smop.json")
local kube = require("smop.kube")
local server = require("smop.server")
local task = require("smop.task")

local objects = tonumber((select(1, ...))) or 20000
local events = tonumber((select(2, ...))) or 50000
local PATH = "/apis/sagemaker.aws.amazon.com/v1/trainingjobs"

-- A TrainingJob as the API server sends it (about 2.3 KB with managedFields).
local function job(i, rv)
  return {
    apiVersion = "sagemaker.aws.amazon.com/v1", kind = "TrainingJob",
    metadata = {
      name = string.format("xgboost-mnist-%06d", i), namespace = "team-" .. (i % 50),
      uid = string.format("fd1fc888-9737-4ed6-a96d-%012d", i), resourceVersion = tostring(rv),
      generation = 2, creationTimestamp = "2026-11-23T12:07:53Z",
      finalizers = json.array({ "sagemaker-operator-finalizer" }),
      managedFields = json.array({
        { apiVersion = "sagemaker.aws.amazon.com/v1", fieldsType = "FieldsV1", manager = "kubectl",
          operation = "Update", time = "2026-11-23T12:07:55Z",
          fieldsV1 = { ["f:spec"] = { ["."] = json.object({}), ["f:region"] = json.object({}),
            ["f:roleArn"] = json.object({}), ["f:hyperParameters"] = json.object({}) } } },
      }),
    },
    spec = {
      region = "us-west-2",
      roleArn = "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
      hyperParameters = json.array({
        { name = "max_depth", value = "5" }, { name = "eta", value = "0.2" },
        { name = "objective", value = "multi:softmax" }, { name = "num_class", value = "10" },
      }),
      algorithmSpecification = { trainingImage = "433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
        trainingInputMode = "File" },
      resourceConfig = { instanceCount = 1, instanceType = "ml.m4.xlarge", volumeSizeInGB = 5 },
      stoppingCondition = { maxRuntimeInSeconds = 86400 },
    },
    status = { trainingJobStatus = "InProgress", secondaryStatus = "Training",
      sageMakerTrainingJobName = "xgboost-mnist-8c0f4b2a6d1e11ef" },
  }
end

local list_rv = objects
local pages, page_size = {}, 500
for first = 1, objects, page_size do
  local items = json.array({})
  for i = first, math.min(first + page_size - 1, objects) do items[#items + 1] = job(i, i) end
  local last = first + page_size > objects
  pages[#pages + 1] = json.encode({ kind = "TrainingJobList", items = items, metadata = {
    resourceVersion = tostring(list_rv), ["continue"] = not last and tostring(#pages + 2) or nil } })
end
local lines = {}
for e = 1, events do
  lines[e] = json.encode({ type = "MODIFIED", object = job((e - 1) % objects + 1, list_rv + e) })
    .. "\n"
end
local line_bytes = #lines[1]

local srv = assert(server.listen({ handler = function(req)
  if not req.args.watch then
    return 200, { ["Content-Type"] = "application/json" }, pages[tonumber(req.args["continue"] or 1)]
  end
  local w = req:stream(200, { ["Content-Type"] = "application/json" })
  if tonumber(req.args.resourceVersion) > list_rv then
    task.sleep(3600) -- the re-watch after the stream: nothing more to say
    return
  end
  for e = 1, events do
    if not w:write(lines[e]) then return end
  end
end }))

local base_kb = collectgarbage("count") -- scripts may only count, not collect
local inf = assert(kube.informer({ server = srv.url, path = PATH, page_size = page_size }))
local t0 = task.now()
for _ = 1, objects do assert(inf:next()) end
local t1 = task.now()
assert(inf:synced())
local store_kb = collectgarbage("count") - base_kb
local t2 = task.now()
for _ = 1, events do assert(inf:next()) end
local t3 = task.now()
inf:close()
srv:close()

print(string.format("list:  %d objects in %d pages: %.0f objects/s, %.1f us/object",
  objects, #pages, objects / (t1 - t0), (t1 - t0) / objects * 1e6))
print(string.format("watch: %d events of %d bytes: %.0f events/s, %.1f us/event, %.1f MB/s",
  events, line_bytes, events / (t3 - t2), (t3 - t2) / events * 1e6,
  events * line_bytes / (t3 - t2) / 1e6))
print(string.format("store: %.1f MB more Lua memory after the list, %.0f bytes per object " ..
  "(managedFields dropped; includes garbage not yet collected: an upper bound)",
  store_kb / 1024, store_kb * 1024 / objects))
