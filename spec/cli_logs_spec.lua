-- `smop logs` (and `kubectl smlogs`) end to end, as a user runs them: the
-- real smop binary against `smop dev`, with the KUBECONFIG and AWS settings
-- its banner prints. Jobs run on the fake's clock, which the spec steps; the
-- fake SageMaker writes their CloudWatch Logs as real jobs do.
local dev = require("spec.support.dev")
local fake_kube = require("spec.support.fake_kube")
local json = require("smop.json")
local smop = require("spec.support.smop")

local quote, slurp = smop.quote, fake_kube.slurp

local TRAINING = "examples/xgboost-mnist-trainingjob.yaml"
local PROCESSING = "examples/kmeans-mnist-processingjob.yaml"
local MODEL = "examples/xgboost-mnist-model.yaml"
local TRANSFORM = "examples/xgboost-mnist-batchtransform.yaml"

local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local p = assert(io.popen("pwd"))
  local cwd = p:read("l")
  p:close()
  return cwd .. "/" .. path
end

-- ms since the epoch -> RFC 3339 with milliseconds
local function rfc3339(ms)
  return os.date("!%Y-%m-%dT%H:%M:%S", ms // 1000) .. string.format(".%03dZ", ms % 1000)
end

local function lines_of(text)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

describe("smop logs", function()
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  local BIN = absolute(smop.bin)
  local d, env, home

  setup(function()
    d = dev.start({ "--aws-speed", "0", "--poll-interval", "0.2" })
    home = smop.tempdir()
    -- exactly what the banner says to export, and nothing from this machine
    local banner = table.concat(d.banner, "\n")
    env = table.concat({
      "PATH=/usr/bin:/bin", "HOME=" .. quote(home),
      banner:match("export (KUBECONFIG=%S+)"),
      banner:match("export (AWS_ENDPOINT_URL=%S+)"),
      banner:match("export (AWS_ACCESS_KEY_ID=[^\n]+)"),
    }, " ")
  end)
  teardown(function()
    if d then d.stop() end
    if home then os.execute("rm -rf " .. quote(home)) end
  end)

  -- `smop logs ARGS`: stdout, stderr, exit code.
  local function logs(args)
    return smop.run({ "logs", table.unpack(args) }, { env = "env -i " .. env .. " " })
  end

  -- `smop logs ARGS` in the background: { out(), err(), code() (nil while it
  -- runs), signal(name), wait_exit(limit) -> code, stop() }.
  local function logs_background(args)
    local dir = smop.tempdir()
    local q = {}
    for _, a in ipairs(args) do q[#q + 1] = quote(a) end
    os.execute(string.format("(sh -c 'echo $$ > \"$0\"; exec \"$@\"' %s env -i %s %s logs %s >%s 2>%s;"
      .. " echo $? >%s) &", quote(dir .. "/pid"), env, quote(BIN), table.concat(q, " "),
      quote(dir .. "/out"), quote(dir .. "/err"), quote(dir .. "/rc")))
    local bg = {}
    function bg.out() return slurp(dir .. "/out") or "" end
    function bg.err() return slurp(dir .. "/err") or "" end
    function bg.code() return tonumber(slurp(dir .. "/rc") or "") end
    function bg.signal(name)
      local pid = d.wait("the pid of smop logs", function() return tonumber(slurp(dir .. "/pid") or "") end)
      os.execute(string.format("kill -%s %d 2>/dev/null", name, pid))
    end
    function bg.wait_exit(limit)
      return d.wait("smop logs to exit", bg.code, limit)
    end
    function bg.stop()
      if not bg.code() then bg.signal("KILL") end
      os.execute("rm -rf " .. quote(dir))
    end
    return bg
  end

  local function apply(text)
    local _, err, code = d.kubectl({ "apply", "-f", "-" }, { stdin = text })
    assert.are.equal(0, code, err)
  end

  local function field(plural, name, path)
    local out, _, code = d.kubectl({ "get", plural, name, "-o", "jsonpath={" .. path .. "}" })
    return code == 0 and out ~= "" and out or nil
  end

  local function advance(seconds)
    d.control("POST", "/_smop/clock", { advance = seconds })
  end

  -- Every event of the job's streams, as the aws CLI reads them, with
  -- timestamps: { {ts, stream, message}, ... } in the fake's order.
  local function events_of(group, job)
    local out, err, code = d.aws({ "logs", "filter-log-events", "--log-group-name", group,
      "--log-stream-name-prefix", job .. "/", "--output", "json" })
    assert.are.equal(0, code, err)
    local list = {}
    for _, e in ipairs(json.decode(out).events) do
      list[#list + 1] = { ts = e.timestamp, stream = e.logStreamName, message = e.message }
    end
    return list
  end

  describe("of the example TrainingJob", function()
    local job, second, expected

    setup(function()
      apply(assert(slurp(TRAINING)))
      job = d.wait("the training job", function()
        return field("trainingjob", "xgboost-mnist", ".status.sageMakerTrainingJobName")
      end)
      advance(100)
      d.wait("Completed", function()
        return field("trainingjob", "xgboost-mnist", ".status.trainingJobStatus") == "Completed"
      end)
      -- The example runs on one instance; a second host's stream, with lines
      -- of its own, is added by hand: one line two hours back, then one a
      -- millisecond after each of the job's, so the merge order is exact.
      local own = events_of("/aws/sagemaker/TrainingJobs", job)
      assert.is_true(#own >= 10, #own)
      second = job .. "/algo-2-" .. math.floor(own[1].ts / 1000)
      local put = { { timestamp = own[1].ts - 2 * 3600 * 1000, message = "algo-2 warming up" } }
      for i, e in ipairs(own) do
        put[#put + 1] = { timestamp = e.ts + 1, message = "algo-2 line " .. i }
      end
      local _, err, code = d.aws({ "logs", "create-log-stream", "--log-group-name",
        "/aws/sagemaker/TrainingJobs", "--log-stream-name", second })
      assert.are.equal(0, code, err)
      _, err, code = d.aws({ "logs", "put-log-events", "--log-group-name", "/aws/sagemaker/TrainingJobs",
        "--log-stream-name", second, "--log-events", json.encode(put) })
      assert.are.equal(0, code, err)

      -- what every read should print: both streams merged by time
      expected = {}
      for _, e in ipairs(own) do expected[#expected + 1] = e end
      for _, p in ipairs(put) do
        expected[#expected + 1] = { ts = p.timestamp, stream = second, message = p.message }
      end
      table.sort(expected, function(a, b) return a.ts < b.ts end)  -- no two at one ms across streams
    end)

    local function text(list, hide)
      local out = {}
      for _, e in ipairs(list) do out[#out + 1] = (hide and "" or (e.stream .. ": ")) .. e.message .. "\n" end
      return table.concat(out)
    end

    it("prints every stream's lines merged in time order, each after its stream's name", function()
      local out, err, code = logs({ "trainingjob", "xgboost-mnist" })
      assert.are.equal(0, code, err)
      assert.are.equal(text(expected), out)
      -- the lines really alternate between the streams, and the job's own
      -- lines are all there, in the order the job wrote them
      local lines = lines_of(out)
      assert.are.equal(second .. ": algo-2 warming up", lines[1])
      assert.matches("^" .. job:gsub("%-", "%%-") .. "/algo%-1%-%d+: Starting the training job$", lines[2])
      assert.matches(": algo%-2 line 1$", lines[3])
      assert.matches("/algo%-1%-%d+: Training job completed$", lines[#lines - 1])
      assert.is_truthy(out:find("[3]#011train-loss:", 1, true))
      -- the same through the plural, KIND/NAME, and an explicit namespace
      assert.are.equal(out, (logs({ "trainingjobs/xgboost-mnist", "-n", "default" })))
    end)

    it("leaves the stream names out with --hide-log-stream-name", function()
      local out, err, code = logs({ "trainingjob", "xgboost-mnist", "--hide-log-stream-name" })
      assert.are.equal(0, code, err)
      assert.are.equal(text(expected, true), out)
    end)

    it("prints the last N lines of all streams with --tail N", function()
      local out, err, code = logs({ "trainingjob", "xgboost-mnist", "--tail", "3" })
      assert.are.equal(0, code, err)
      assert.are.equal(text(table.move(expected, #expected - 2, #expected, 1, {})), out)
      out = logs({ "trainingjob", "xgboost-mnist", "--tail=0" })
      assert.are.equal("", out)
      out = logs({ "trainingjob", "xgboost-mnist", "--tail", "1000" })
      assert.are.equal(text(expected), out)
      out = logs({ "trainingjob", "xgboost-mnist", "--tail", "-1" })
      assert.are.equal(text(expected), out)
    end)

    it("starts at --since (RFC 3339 or a duration back from now)", function()
      local from = expected[6]
      local out, err, code = logs({ "trainingjob", "xgboost-mnist", "--since", rfc3339(from.ts) })
      assert.are.equal(0, code, err)
      assert.are.equal(text(table.move(expected, 6, #expected, 1, {})), out)
      -- the algo-2 line from two hours back is the only one older than an hour
      out, err, code = logs({ "trainingjob", "xgboost-mnist", "--since", "1h" })
      assert.are.equal(0, code, err)
      assert.are.equal(text(table.move(expected, 2, #expected, 1, {})), out)
      -- with --tail: the last N of those
      out = logs({ "trainingjob", "xgboost-mnist", "--since", "1h", "--tail", "2" })
      assert.are.equal(text(table.move(expected, #expected - 1, #expected, 1, {})), out)
      -- nothing that recent: no lines, and a note on stderr
      local later = rfc3339(expected[#expected].ts + 1)
      out, err, code = logs({ "trainingjob", "xgboost-mnist", "--since", later })
      assert.are.equal(0, code)
      assert.are.equal("", out)
      assert.matches("no log events since .* for SageMaker training job " .. job:gsub("%-", "%%-"), err)
    end)

    it("works as the kubectl plugin `kubectl smlogs`: smop by another name", function()
      local bindir = home .. "/bin"
      assert(os.execute(string.format("mkdir -p %s && ln -sf %s %s/kubectl-smlogs", quote(bindir),
        quote(BIN), quote(bindir))))
      local path = bindir .. ":/usr/bin:/bin"
      local cmd = string.format("env -i %s PATH=%s %s smlogs trainingjob xgboost-mnist",
        env:gsub("^PATH=%S+ ", ""), quote(path), quote(fake_kube.KUBECTL))
      local out, err, code = fake_kube.run(cmd)
      assert.are.equal(0, code, err)
      assert.are.equal(text(expected), out)
      out = fake_kube.run(cmd .. " --tail 1 --hide-log-stream-name")
      assert.are.equal(expected[#expected].message .. "\n", out)
    end)
  end)

  it("exits 1 with one clear line for an object that is not there", function()
    local out, err, code = logs({ "trainingjob", "nope" })
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("smop logs: trainingjob nope not found in namespace default\n", err)
    out, err, code = logs({ "processingjob", "xgboost-mnist", "-n", "elsewhere" })
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.are.equal("smop logs: processingjob xgboost-mnist not found in namespace elsewhere\n", err)
  end)

  it("exits 2 on bad usage", function()
    for _, args in ipairs({ {}, { "trainingjob" }, { "model", "x" }, { "trainingjob", "x", "--tail", "many" },
      { "trainingjob", "x", "--since", "yesterday" }, { "trainingjob", "x", "--bogus" } }) do
      local _, err, code = logs(args)
      assert.are.equal(2, code, table.concat(args, " "))
      assert.matches("usage: smop logs KIND NAME", err, 1, true)
    end
  end)

  it("says so when the object has no SageMaker job yet", function()
    local fault = d.control("POST", "/_smop/faults", { kind = "error", status = 400,
      code = "AccessDeniedException", message = "not allowed", service = "sagemaker",
      operation = "CreateTrainingJob" }).fault
    finally(function() d.control("DELETE", "/_smop/faults/" .. fault.id) end)
    apply((assert(slurp(TRAINING)):gsub("name: xgboost%-mnist\n", "name: denied\n", 1)))
    d.wait("Error", function()
      return field("trainingjob", "denied", ".status.trainingJobStatus") == "Error"
    end)
    for _, extra in ipairs({ {}, { "--follow" } }) do
      local out, err, code = logs({ "trainingjob", "denied", table.unpack(extra) })
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.matches("^smop logs: trainingjob denied has no SageMaker job yet "
        .. "%(status: Error: .*not allowed.*%)\n$", err)
    end
  end)

  it("--follow waits for the job, prints lines as they come and ends with the job", function()
    -- while CreateTrainingJob is throttled the object has no job: --follow waits
    local fault = d.control("POST", "/_smop/faults", { kind = "throttle", service = "sagemaker",
      operation = "CreateTrainingJob" }).fault
    apply((assert(slurp(TRAINING)):gsub("name: xgboost%-mnist\n", "name: followed\n", 1)))
    local bg = logs_background({ "trainingjob", "followed", "-f" })
    finally(bg.stop)
    d.wait("the waiting note", function() return bg.err():find("waiting for it", 1, true) end, 200)
    assert.matches("^smop logs: trainingjob followed has no SageMaker job yet %(status: ", bg.err())
    d.control("DELETE", "/_smop/faults/" .. fault.id)
    d.wait("the training job", function()
      return field("trainingjob", "followed", ".status.sageMakerTrainingJobName")
    end, 600)

    d.wait("the first line", function() return bg.out():find("Starting the training job", 1, true) end, 200)
    advance(25)
    d.wait("the Training lines", function() return bg.out():find("Training in progress", 1, true) end, 200)
    assert.is_nil(bg.code())
    assert.is_nil(bg.out():find("Training job completed", 1, true))
    advance(100)
    assert.are.equal(0, bg.wait_exit(300))
    local all = logs({ "trainingjob", "followed" })
    assert.are.equal(all, bg.out())
    assert.matches(": Training job completed\n$", all)
  end)

  describe("of a ProcessingJob on two instances", function()
    local job

    setup(function()
      apply((assert(slurp(PROCESSING)):gsub("instanceCount: 1", "instanceCount: 2")))
      job = d.wait("the processing job", function()
        return field("processingjob", "kmeans-mnist-processing", ".status.sageMakerProcessingJobName")
      end)
    end)

    it("merges the instances' streams, and Ctrl-C ends --follow", function()
      advance(15)   -- started, not done
      local bg = logs_background({ "processingjob", "kmeans-mnist-processing", "--follow" })
      finally(bg.stop)
      d.wait("both started lines", function() return #lines_of(bg.out()) == 2 end, 200)
      bg.signal("INT")
      assert.are.equal(0, bg.wait_exit(100))

      advance(40)
      d.wait("Completed", function()
        return field("processingjob", "kmeans-mnist-processing", ".status.processingJobStatus") == "Completed"
      end)
      local out, err, code = logs({ "processingjobs", "kmeans-mnist-processing" })
      assert.are.equal(0, code, err)
      local p = job:gsub("%-", "%%-")
      local want = {
        "^" .. p .. "/algo%-1%-%d+: Processing job started: ",
        "^" .. p .. "/algo%-2%-%d+: Processing job started: ",
        "^" .. p .. "/algo%-1%-%d+: Processing job completed$",
        "^" .. p .. "/algo%-2%-%d+: Processing job completed$",
      }
      local lines = lines_of(out)
      assert.are.equal(#want, #lines, out)
      for i, w in ipairs(want) do assert.matches(w, lines[i]) end
      out = logs({ "processingjob", "kmeans-mnist-processing", "--tail", "2" })
      assert.are.same({ lines[3], lines[4] }, lines_of(out))
    end)
  end)

  it("reads a BatchTransformJob's logs, one stream per instance", function()
    apply(assert(slurp(MODEL)))
    local model = d.wait("the model", function()
      return field("model", "xgboost-mnist-model", ".status.sageMakerModelName")
    end)
    apply((assert(slurp(TRANSFORM)):gsub("modelName: xgboost%-mnist%-model", "modelName: " .. model)
      :gsub("instanceCount: 1", "instanceCount: 2")))
    local job = d.wait("the transform job", function()
      return field("batchtransformjob", "xgboost-mnist-batch", ".status.sageMakerTransformJobName")
    end)
    advance(60)
    local out, err, code = logs({ "batchtransformjob", "xgboost-mnist-batch", "--hide-log-stream-name" })
    assert.are.equal(0, code, err)
    assert.are.same({
      "Model server started; transforming s3://my-bucket/xgboost/batch-input/",
      "Model server started; transforming s3://my-bucket/xgboost/batch-input/",
      "Transform job completed; output in s3://my-bucket/xgboost/batch-output/",
      "Transform job completed; output in s3://my-bucket/xgboost/batch-output/",
    }, lines_of(out))
    out = logs({ "batchtransformjob", "xgboost-mnist-batch" })
    local streams, count = {}, 0
    for _, l in ipairs(lines_of(out)) do
      local stream = l:match("^([^:]+): ")
      assert.matches("^" .. job:gsub("%-", "%%-") .. "/i%-%x+%-%d+$", stream)
      if not streams[stream] then count = count + 1 end
      streams[stream] = true
    end
    assert.are.equal(2, count)
  end)
end)
