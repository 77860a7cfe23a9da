-- Acceptance: the real /usr/bin/kubectl (the gcloud dispatcher build, which
-- asks /version first and runs its kubectl 1.32) against `smop fake-kube`
-- run as a user runs it. The commands and their expected output are the
-- ones recorded against kube-apiserver 1.32 in ../shared/kube-wire.
local fake_kube = require("spec.support.fake_kube")
local json = require("smop.json")
local smop = require("spec.support.smop")

local FIX = "spec/fixtures/kube/"
local HEADER = "NAME%s+STATUS%s+SECONDARY%-STATUS%s+CREATION%-TIME%s+SAGEMAKER%-JOB%-NAME"

local function sleep(s)
  os.execute("sleep " .. s)
end

-- Polls cond() (up to 20 s) until it returns a truthy value.
local function wait_for(what, cond)
  for _ = 1, 200 do
    local v = cond()
    if v then return v end
    sleep(0.1)
  end
  error("timed out waiting for " .. what)
end

-- Runs a shell command in the background, in a session of its own; returns
-- its pid (which is also its process group's id). Its exit code lands in
-- rc_file when it ends.
local function background(cmd, out_file, rc_file)
  local p = assert(io.popen(string.format("setsid sh -c %s >/dev/null 2>&1 & echo $!",
    smop.quote(string.format("%s > %s 2>&1; echo $? > %s", cmd, smop.quote(out_file), smop.quote(rc_file))))))
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

-- Ends what background() started: its whole process group, by id.
local function kill(pid)
  os.execute(string.format("kill -TERM -- -%d 2>/dev/null", pid))
end

local function alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

local available = fake_kube.kubectl_available()

describe("smop fake-kube with the real kubectl", function()
  if not available then
    pending("no kubectl at " .. fake_kube.KUBECTL)
    return
  end

  describe("the kube-wire TrainingJob", function()
    local fk

    setup(function()
      fk = fake_kube.start()
    end)

    teardown(function()
      if fk then fk.stop() end
    end)

    local function kubectl(...)
      return fk.kubectl({ ... })
    end

    it("applies the CRD, which becomes Established", function()
      local _
      local out, err, code = kubectl("apply", "-f", FIX .. "crd-trainingjobs.yaml")
      assert.are.equal(0, code, err)
      assert.are.equal("customresourcedefinition.apiextensions.k8s.io/trainingjobs.sagemaker.aws.amazon.com "
        .. "created\n", out)
      _, err, code = kubectl("wait", "--for=condition=established", "--timeout=20s",
        "crd/trainingjobs.sagemaker.aws.amazon.com")
      assert.are.equal(0, code, err)
      out = kubectl("get", "crd", "trainingjobs.sagemaker.aws.amazon.com")
      assert.matches("^NAME%s+CREATED "
        .. "AT\ntrainingjobs%.sagemaker%.aws%.amazon%.com%s+%d%d%d%d%-%d%d%-%d%dT", out)
    end)

    it("applies a TrainingJob (create, configure, unchanged) and lists it with its printer "
      .. "columns", function()
      fk.new_cache()
      local out, err, code = kubectl("apply", "-f", FIX .. "trainingjob-xgboost-mnist.yaml")
      assert.are.equal(0, code, err)
      assert.are.equal("trainingjob.sagemaker.aws.amazon.com/xgboost-mnist created\n", out)
      out, err, code = kubectl("apply", "-f", FIX .. "trainingjob-xgboost-mnist-changed.yaml")
      assert.are.equal(0, code, err)
      assert.are.equal("trainingjob.sagemaker.aws.amazon.com/xgboost-mnist configured\n", out)
      out = kubectl("apply", "-f", FIX .. "trainingjob-xgboost-mnist-changed.yaml")
      assert.are.equal("trainingjob.sagemaker.aws.amazon.com/xgboost-mnist unchanged\n", out)

      out, err, code = kubectl("get", "trainingjobs")
      assert.are.equal(0, code, err)
      local header, row = out:match("^([^\n]*)\n([^\n]*)\n$")
      assert.matches("^" .. HEADER .. "$", header)
      assert.matches("^xgboost%-mnist%s+%d+s%s*$", row) -- status cells null, age from the server
      local json_out = kubectl("get", "trainingjob", "xgboost-mnist", "-o", "json")
      local obj = json.decode(json_out)
      assert.are.equal(2, obj.metadata.generation)
      assert.are.equal(2, obj.spec.resourceConfig.instanceCount)
    end)

    it("patches the status subresource and shows it in get, get -o yaml and describe", function()
      local out, err, code = kubectl("patch", "trainingjob", "xgboost-mnist", "--subresource=status",
        "--type=merge", "-p", '{"status":{"trainingJobStatus":"InProgress","secondaryStatus":"Starting",'
          .. '"sageMakerTrainingJobName":"xgboost-mnist-8c0f4b2a6d1e11ef",'
          .. '"lastCheckTime":"2026-11-23T12:08:04Z"}}')
      assert.are.equal(0, code, err)
      assert.are.equal("trainingjob.sagemaker.aws.amazon.com/xgboost-mnist patched\n", out)
      out = kubectl("get", "trainingjobs")
      assert.matches("\nxgboost%-mnist%s+InProgress%s+Starting%s+%d+s%s+"
        .. "xgboost%-mnist%-8c0f4b2a6d1e11ef\n$", out)
      out = kubectl("get", "trainingjob", "xgboost-mnist", "-o", "yaml")
      assert.matches("\nstatus:\n  lastCheckTime: \"2026%-11%-23T12:08:04Z\"\n  sageMakerTrainingJobName: "
        .. "xgboost%-mnist%-8c0f4b2a6d1e11ef\n  secondaryStatus: Starting\n  trainingJobStatus: "
          .. "InProgress\n$", out)
      assert.matches("\n  generation: 2\n", out) -- a status write leaves generation alone
      out, err, code = kubectl("describe", "trainingjob", "xgboost-mnist")
      assert.are.equal(0, code, err)
      assert.matches("^Name:         xgboost%-mnist\nNamespace:    default\n", out)
      assert.matches("\nKind:         TrainingJob\n", out)
      assert.matches("\nStatus:\n  Last Check Time:               2026%-11%-23T12:08:04Z\n", out)
      assert.matches("\n  Training Job Status:           InProgress\n", out)
    end)

    it("streams a change to kubectl get -w", function()
      local out_file, rc_file = fk.dir .. "/watch.out", fk.dir .. "/watch.rc"
      local pid = background(string.format("timeout 30 env %s %s get trainingjobs -w", fk.kubectl_env(),
        smop.quote(fake_kube.KUBECTL)), out_file, rc_file)
      local ok, err = pcall(function()
        wait_for("the first rows of get -w", function()
          return (fake_kube.slurp(out_file) or ""):find("Starting", 1, true)
        end)
        local _, perr, code = kubectl("patch", "trainingjob", "xgboost-mnist", "--subresource=status",
          "--type=merge", "-p", '{"status":{"secondaryStatus":"Downloading"}}')
        assert.are.equal(0, code, perr)
        local text = wait_for("the watched change", function()
          local t = fake_kube.slurp(out_file) or ""
          return t:find("Downloading", 1, true) and t
        end)
        assert.matches("^" .. HEADER .. "\n", text)
        assert.matches("\nxgboost%-mnist%s+InProgress%s+Downloading%s+%d+s%s+"
          .. "xgboost%-mnist%-8c0f4b2a6d1e11ef\n",
          text)
      end)
      kill(pid)
      assert(ok, err)
    end)

    it("explains a field from the CRD's schema, as the real server's OpenAPI v3 lets it", function()
      fk.new_cache()
      local out, err, code = kubectl("explain", "trainingjob.spec.resourceConfig")
      assert.are.equal(0, code, err)
      assert.are.equal(table.concat({
        "GROUP:      sagemaker.aws.amazon.com",
        "KIND:       TrainingJob",
        "VERSION:    v1",
        "",
        "FIELD: resourceConfig <Object>",
        "",
        "",
        "DESCRIPTION:",
        "    Compute resources (ML instances and storage) for the training job.",
        "    ",
        "FIELDS:",
        "  instanceCount\t<integer>",
        "    Number of ML compute instances to use.",
        "",
        "  instanceType\t<string>",
        "    ML compute instance type, for example ml.m5.xlarge.",
        "",
        "  volumeSizeInGB\t<integer>",
        "    Size of the ML storage volume attached to each instance, in GB.",
        "",
        "",
        "",
      }, "\n"), out)
    end)

    it("refuses an invalid spec with the fields named as the real server names them", function()
      fk.new_cache()
      local out, err, code = kubectl("apply", "-f", FIX .. "trainingjob-invalid.yaml")
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.are.equal('The TrainingJob "xgboost-invalid" is invalid: \n'
        .. "* spec.resourceConfig.instanceCount: Invalid value: 0: spec.resourceConfig.instanceCount in body "
        .. "should be greater than or equal to 1\n"
        .. "* spec.roleArn: Required value\n", err)
    end)

    it("refuses a replace with a stale resourceVersion (409)", function()
      local out, err, code = kubectl("replace", "-f", FIX .. "stale-xgboost-mnist.yaml")
      assert.are.equal(1, code)
      assert.are.equal("", out)
      assert.are.equal('Error from server (Conflict): error when replacing "' .. FIX
        .. 'stale-xgboost-mnist.yaml": '
        .. "Operation cannot be fulfilled on trainingjobs.sagemaker.aws.amazon.com "
          .. "\"xgboost-mnist\": the object "
        .. "has been modified; please apply your changes to the latest version and try again\n", err)
    end)

    it("creates an Event, lists it, and describe shows it for its object", function()
      local uid = kubectl("get", "trainingjob", "xgboost-mnist", "-o", "jsonpath={.metadata.uid}")
      local ev = fake_kube.slurp(FIX .. "event-xgboost-mnist.yaml")
        :gsub("uid: [%x%-]+", "uid: " .. uid)
      local out, err, code = fk.kubectl({ "create", "-f", "-" }, { stdin = ev })
      assert.are.equal(0, code, err)
      assert.are.equal("event/xgboost-mnist.18eaab4334b27300 created\n", out)
      out, err, code = kubectl("get", "events")
      assert.are.equal(0, code, err)
      assert.matches("^LAST SEEN%s+TYPE%s+REASON%s+OBJECT%s+MESSAGE\n", out)
      assert.matches("\n%S+%s+Normal%s+StatusChanged%s+trainingjob/xgboost%-mnist%s+TrainingJob "
        .. "status changed "
        .. "to InProgress/Training\n", out)
      out = kubectl("describe", "trainingjob", "xgboost-mnist")
      assert.matches("\nEvents:\n  Type    Reason         Age%s+From%s+Message\n", out)
      assert.matches("\n  Normal  StatusChanged  %S+%s+sagemaker%-k8s%-operator  TrainingJob status "
        .. "changed to "
        .. "InProgress/Training\n$", out)
    end)

    it("applies and renews a Lease (strategic merge patch)", function()
      fk.new_cache()
      local want = { "created", "configured", "configured" }
      for i = 0, 2 do
        local out, err, code = kubectl("apply", "-f", FIX .. "lease-" .. i .. ".yaml")
        assert.are.equal(0, code, err)
        assert.are.equal("lease.coordination.k8s.io/sagemaker-operator-leader " .. want[i + 1] .. "\n", out)
      end
      local out = kubectl("get", "lease", "sagemaker-operator-leader", "-o", "jsonpath={.spec.renewTime}")
      assert.are.equal(fake_kube.slurp(FIX .. "lease-2.yaml"):match("renewTime: '([^']+)'"), out)
      out = kubectl("get", "leases")
      assert.matches("^NAME%s+HOLDER%s+AGE\nsagemaker%-operator%-leader%s+"
        .. "sagemaker%-k8s%-operator%-7d9f8c6b5%-x2x4q_0f7c2d1e%s+%d+s\n$",
        out)
    end)

    it("deletes with --wait=false while a finalizer holds the object, then 404 once it is removed", function()
      local _
      local out, err, code = kubectl("patch", "trainingjob", "xgboost-mnist", "--type=merge", "-p",
        '{"metadata":{"finalizers":["sagemaker-operator-finalizer"]}}')
      assert.are.equal(0, code, err)
      assert.are.equal("trainingjob.sagemaker.aws.amazon.com/xgboost-mnist patched\n", out)
      assert.are.equal('Warning: metadata.finalizers: "sagemaker-operator-finalizer": '
        .. "prefer a domain-qualified "
        .. "finalizer name to avoid accidental conflicts with other finalizer writers\n", err)
      out, err, code = kubectl("delete", "trainingjob", "xgboost-mnist", "--wait=false")
      assert.are.equal(0, code, err)
      assert.are.equal('trainingjob.sagemaker.aws.amazon.com "xgboost-mnist" deleted\n', out)
      local obj = json.decode((kubectl("get", "trainingjob", "xgboost-mnist", "-o", "json")))
      assert.is_string(obj.metadata.deletionTimestamp)
      assert.are.equal(0, obj.metadata.deletionGracePeriodSeconds)
      assert.are.same({ "sagemaker-operator-finalizer" }, obj.metadata.finalizers)
      _, err, code = kubectl("patch", "trainingjob", "xgboost-mnist", "--type=merge", "-p",
        '{"metadata":{"finalizers":null}}')
      assert.are.equal(0, code, err)
      _, err, code = kubectl("get", "trainingjob", "xgboost-mnist")
      assert.are.equal(1, code)
      assert.are.equal('Error from server (NotFound): trainingjobs.sagemaker.aws.amazon.com "xgboost-mnist" '
        .. "not found\n", err)
    end)

    it("blocks a waiting kubectl delete on a finalizer until another kubectl removes it", function()
      local job = fake_kube.slurp(FIX .. "trainingjob-xgboost-mnist.yaml")
        :gsub("name: xgboost%-mnist", "name: held")
        :gsub("metadata:\n", "metadata:\n  finalizers:\n  - sagemaker.aws.amazon.com/finalizer\n", 1)
      local _, err, code = fk.kubectl({ "apply", "-f", "-" }, { stdin = job })
      assert.are.equal(0, code, err)
      local out_file, rc_file = fk.dir .. "/delete.out", fk.dir .. "/delete.rc"
      local pid = background(string.format("timeout 60 env %s %s delete trainingjob held", fk.kubectl_env(),
        smop.quote(fake_kube.KUBECTL)), out_file, rc_file)
      local ok, perr = pcall(function()
        wait_for("the delete to mark the object", function()
          local o = json.decode((kubectl("get", "trainingjob", "held", "-o", "json")))
          return o and o.metadata and o.metadata.deletionTimestamp
        end)
        -- the object stays while its finalizer does, so the delete is still waiting
        assert.is_true(alive(pid))
        assert.is_nil(fake_kube.slurp(rc_file))
        local _, e2, c2 = kubectl("patch", "trainingjob", "held", "--type=json", "-p",
          '[{"op":"remove","path":"/metadata/finalizers"}]')
        assert.are.equal(0, c2, e2)
        local rc = wait_for("kubectl delete to return", function() return fake_kube.slurp(rc_file) end)
        assert.are.equal("0\n", rc)
        assert.are.equal('trainingjob.sagemaker.aws.amazon.com "held" deleted\n', fake_kube.slurp(out_file))
      end)
      kill(pid)
      assert(ok, perr)
      local _, gerr, gcode = kubectl("get", "trainingjob", "held")
      assert.are.equal(1, gcode)
      assert.matches("NotFound", gerr)
    end)

    it("creates a ConfigMap, a Secret and a Namespace (kubectl's typed clients send protobuf)", function()
      local out, err, code = kubectl("create", "configmap", "scripts", "--from-literal=a=1",
        "--from-literal=b=two")
      assert.are.equal(0, code, err)
      assert.are.equal("configmap/scripts created\n", out)
      out, err, code = kubectl("create", "secret", "generic", "creds", "--from-literal=key=s3cret")
      assert.are.equal(0, code, err)
      assert.are.equal("secret/creds created\n", out)
      out, err, code = kubectl("create", "namespace", "team-a")
      assert.are.equal(0, code, err)
      assert.are.equal("namespace/team-a created\n", out)
      local cm = json.decode((kubectl("get", "configmap", "scripts", "-o", "json")))
      assert.are.same({ a = "1", b = "two" }, cm.data)
      out = kubectl("get", "secret", "creds", "-o", "jsonpath={.data.key}")
      assert.are.equal("czNjcmV0", out) -- base64 of s3cret
      out = kubectl("get", "configmaps,secrets")
      assert.matches("configmap/scripts%s+2%s+%d+s", out)
      assert.matches("secret/creds%s+Opaque%s+1%s+%d+s", out)
      out = kubectl("get", "namespace", "team-a")
      assert.matches("\nteam%-a%s+Active%s+%d+s\n$", out)
    end)

    it("kept running through all of it", function()
      assert.is_true(fk.alive())
    end)
  end)

  describe("the generated CRDs and the examples", function()
    local fk

    setup(function()
      fk = fake_kube.start({ crds = { "crds" } })   -- the directory, as a user passes it
    end)

    teardown(function()
      if fk then fk.stop() end
    end)

    it("serves every CRD of crds/ from the start and applies every example", function()
      local out, err, code = fk.kubectl({ "get", "crd", "-o", "name" })
      assert.are.equal(0, code, err)
      assert.matches("customresourcedefinition.apiextensions.k8s.io/"
        .. "trainingjobs.sagemaker.aws.amazon.com\n", out,
        1, true)
      local p = io.popen("ls examples/*.yaml")
      local n = 0
      for file in p:lines() do
        out, err, code = fk.kubectl({ "apply", "-f", file })
        assert.are.equal(0, code, file .. ": " .. err)
        assert.matches(" created\n$", out)
        n = n + 1
      end
      p:close()
      assert.is_true(n > 0)
      out, err, code = fk.kubectl({ "get", "trainingjobs" })
      assert.are.equal(0, code, err)
      assert.matches("^" .. HEADER .. "\n", out)
      assert.matches("\nxgboost%-mnist%s+%d+s", out)
      -- the CRDs' category lists every kind at once
      out = fk.kubectl({ "get", "sagemaker" })
      assert.matches("hyperparametertuningjob.sagemaker.aws.amazon.com/xgboost-mnist-hpo", out, 1, true)
    end)
  end)
end)
