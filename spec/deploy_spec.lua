-- deploy/ and the Dockerfile against what they install: the kustomizations
-- render with the real kubectl, the RBAC they grant is exactly what the
-- operator's code asks of the API server, the Deployment's flags, probes and
-- security settings fit `smop run`, and the image installs a Debian package
-- for every library the binary links. Runs from the repository root.
local fake_kube = require("spec.support.fake_kube")
local smop = require("spec.support.smop")
local yaml = require("smop.yaml")

local GROUP = "sagemaker.aws.amazon.com"
local quote = smop.quote
local run = fake_kube.run

-- What the operator's code asks of the Kubernetes API, written once. "{kind}"
-- stands for every plural of crds/: the driver treats all kinds alike.
-- where: "watch" (the namespaces it watches) or "lease" (where its Lease is).
local NEEDED = {
  { where = "watch", group = GROUP, resource = "{kind}", verbs = { "list", "watch" },
    why = "one informer per kind: operator/controller.lua -> kube.informer (src/kube.c: list, then watch)" },
  { where = "watch", group = GROUP, resource = "{kind}", verbs = { "patch" },
    why = "the finalizer, added and removed by a merge patch: operator/driver.lua set_finalizers" },
  { where = "watch", group = GROUP, resource = "{kind}/status", verbs = { "patch" },
    why = "every status write: operator/driver.lua write_status -> kube/client.lua patch_status" },
  { where = "watch", group = GROUP, resource = "trainingjobs", verbs = { "create", "get", "delete" },
    why = "a tuning job's training jobs as TrainingJob objects it owns: operator/driver.lua ctx.children "
      .. "(create; get, to check the owner, and delete on the tuning job's delete)" },
  { where = "watch", group = GROUP, resource = "hyperparametertuningjobs/finalizers", verbs = { "update" },
    why = "those TrainingJobs name their tuning job as owner with blockOwnerDeletion: "
      .. "OwnerReferencesPermissionEnforcement (OpenShift) asks for this" },
  { where = "watch", group = "", resource = "events", verbs = { "create", "patch" },
    why = "operator/events.lua: core/v1 Events; a repeat patches count and lastTimestamp" },
  { where = "lease", group = "coordination.k8s.io", resource = "leases",
    verbs = { "get", "create", "update" },
    why = "operator/leader.lua: get, create when missing, update to renew, take over and release" },
  { where = "lease", group = "", resource = "configmaps", verbs = { "list", "watch" },
    why = "operator/scriptwatch.lua: the informer on the script set's ConfigMap" },
}
-- Granted for owners to come (the reason is in deploy/cluster/cluster-role.yaml).
local ALSO_GRANTED = {
  { where = "watch", group = GROUP, resource = "{kind}/finalizers", verbs = { "update" } },
}

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function lines_of(cmd)
  local out, err, code = run(cmd)
  assert.equal(0, code, cmd .. ": " .. err)
  local list = {}
  for line in out:gmatch("[^\n]+") do list[#list + 1] = line end
  return list
end

-- The plural and name of every CRD in crds/.
local function crd_files()
  local list = {}
  for _, file in ipairs(lines_of("ls -1 crds/*.yaml")) do
    local doc = assert(yaml.decode(read_file(file)))
    -- `kubectl apply -f crds/` (the docs' install) takes every *.yaml there
    assert.equal("CustomResourceDefinition", doc.kind, file .. " is not a CRD")
    list[#list + 1] = { file = file, plural = doc.spec.names.plural, name = doc.metadata.name }
  end
  assert.is_true(#list > 0)
  return list
end

-- NEEDED (and ALSO_GRANTED) as { where, group, resource, verb } rows.
local function expand(list, crds)
  local rows = {}
  for _, n in ipairs(list) do
    local resources = {}
    if n.resource:find("{kind}", 1, true) then
      for _, c in ipairs(crds) do
        resources[#resources + 1] = (n.resource:gsub("{kind}", c.plural))
      end
    else
      resources[1] = n.resource
    end
    for _, r in ipairs(resources) do
      for _, v in ipairs(n.verbs) do
        rows[#rows + 1] = { where = n.where, group = n.group, resource = r, verb = v, why = n.why }
      end
    end
  end
  return rows
end

local function render(dir)
  local out, err, code = run(string.format("%s kustomize %s", quote(fake_kube.KUBECTL), quote(dir)))
  assert.equal(0, code, "kubectl kustomize " .. dir .. ": " .. err)
  local docs = assert(yaml.decode_all(out))
  assert.is_true(#docs > 0, dir .. " renders nothing")
  return docs
end

local function find(docs, kind, name, namespace)
  local found = {}
  for _, d in ipairs(docs) do
    if d.kind == kind and (not name or d.metadata.name == name)
      and (not namespace or d.metadata.namespace == namespace) then
      found[#found + 1] = d
    end
  end
  return found
end

-- Every grant the RBAC objects in docs give the service account:
-- { scope = "*" (cluster-wide) or a namespace, group, resource, verb }.
local function grants_of(docs, sa_namespace, sa_name)
  local roles = {}
  for _, d in ipairs(docs) do
    if d.kind == "Role" or d.kind == "ClusterRole" then
      roles[d.kind .. "/" .. (d.kind == "Role" and d.metadata.namespace or "") .. "/" .. d.metadata.name] = d
    end
  end
  local grants = {}
  for _, b in ipairs(docs) do
    local bound = false
    if b.kind == "RoleBinding" or b.kind == "ClusterRoleBinding" then
      for _, s in ipairs(b.subjects or {}) do
        if s.kind == "ServiceAccount" and s.name == sa_name and s.namespace == sa_namespace then
          bound = true
        end
      end
    end
    if bound then
      local ref = b.roleRef
      local key = ref.kind .. "/" .. (ref.kind == "Role" and b.metadata.namespace or "") .. "/" .. ref.name
      local role = roles[key]
      assert.is_truthy(role, b.kind .. " " .. b.metadata.name .. " binds a missing " .. key)
      local scope = b.kind == "ClusterRoleBinding" and "*" or b.metadata.namespace
      for _, rule in ipairs(role.rules or {}) do
        for _, g in ipairs(rule.apiGroups or {}) do
          for _, r in ipairs(rule.resources or {}) do
            for _, v in ipairs(rule.verbs or {}) do
              grants[#grants + 1] = { scope = scope, group = g, resource = r, verb = v }
            end
          end
        end
      end
    end
  end
  return grants
end

local function matches(pattern, value)
  return pattern == "*" or pattern == value
end

-- Whether grants allow the row in scope ("*": cluster-wide only).
local function allowed(grants, scope, row)
  for _, g in ipairs(grants) do
    if (g.scope == "*" or g.scope == scope) and matches(g.group, row.group)
      and matches(g.resource, row.resource) and matches(g.verb, row.verb) then
      return true
    end
  end
  return false
end

-- "--flag value" or "--flag=value" in args; true for a flag given alone.
local function flag(args, name)
  for i, a in ipairs(args) do
    if a == name then
      local nxt = args[i + 1]
      return (nxt and nxt:sub(1, 2) ~= "--") and nxt or true
    end
    local v = a:match("^" .. name:gsub("%-", "%%-") .. "=(.*)$")
    if v then return v end
  end
  return nil
end

-- The container's args as the kubelet passes them: $(VAR) expanded from
-- the container's env (literal values and the pod's name and namespace).
local function expanded_args(dep, container)
  local env = {}
  for _, e in ipairs(container.env or {}) do
    local field = e.valueFrom and e.valueFrom.fieldRef and e.valueFrom.fieldRef.fieldPath
    if e.value then
      env[e.name] = e.value
    elseif field == "metadata.namespace" then
      env[e.name] = dep.metadata.namespace
    elseif field == "metadata.name" then
      env[e.name] = dep.metadata.name .. "-pod"
    end
  end
  local args = {}
  for i, a in ipairs(container.args or {}) do
    args[i] = a:gsub("%$%(([%w_]+)%)", function(name) return env[name] end)
  end
  return args, env
end

local function smop_container(dep)
  local containers = dep.spec.template.spec.containers
  assert.equal(1, #containers)
  return containers[1]
end

-- ---- Dockerfile ----

-- Stages: { from = "debian:... AS x", steps = { { "RUN", "..." }, ... } }.
local function dockerfile_stages(text)
  text = text:gsub("\\\n", " ")
  local stages = {}
  for line in text:gmatch("[^\n]+") do
    local instr, rest = line:match("^%s*(%u+)%s+(.*)$")
    if instr == "FROM" then
      stages[#stages + 1] = { from = rest, steps = {} }
    elseif instr and #stages > 0 then
      table.insert(stages[#stages].steps, { instr, rest })
    end
  end
  return stages
end

-- What a stage's RUN steps install with apt-get: a set of package names,
-- and whether every install skipped recommends and the apt lists are removed.
local function apt_of(stage)
  local pkgs, no_recommends, lists_removed = {}, true, false
  for _, step in ipairs(stage.steps) do
    if step[1] == "RUN" then
      for cmd in (step[2] .. "&&"):gmatch("(.-)&&") do
        local args = cmd:match("apt%-get%s+install%s+(.*)$")
        if args then
          if not args:find("--no-install-recommends", 1, true) then no_recommends = false end
          for word in args:gmatch("%S+") do
            if word:sub(1, 1) ~= "-" then pkgs[word] = true end
          end
        end
        if cmd:match("rm%s+%-rf%s+/var/lib/apt/lists/%*") then lists_removed = true end
      end
    end
  end
  return pkgs, no_recommends, lists_removed
end

local function step_of(stage, instr)
  local found
  for _, step in ipairs(stage.steps) do
    if step[1] == instr then found = step[2] end
  end
  return found
end

-- path -> Debian package, for files dpkg knows (under /lib or /usr/lib:
-- with merged /usr, dpkg knows one of the two spellings).
local function packages_of(paths)
  local args = {}
  for _, p in ipairs(paths) do
    args[#args + 1] = quote(p)
    if p:match("^/lib") then args[#args + 1] = quote("/usr" .. p) end
    if p:match("^/usr/lib") then args[#args + 1] = quote(p:sub(5)) end
  end
  local out = run("dpkg -S " .. table.concat(args, " "))   -- exit 1 when one spelling is unknown
  local by_path = {}
  for line in out:gmatch("[^\n]+") do
    local pkgs, path = line:match("^(.-): (/.*)$")
    if pkgs and not pkgs:find(",") then by_path[path] = pkgs:gsub(":.*$", "") end
  end
  local result = {}
  for _, p in ipairs(paths) do
    result[p] = by_path[p] or by_path["/usr" .. p] or (p:match("^/usr/lib") and by_path[p:sub(5)])
  end
  return result
end

-- The installed packages: name -> { base = true when Essential or Priority
-- required (what debian:*-slim starts from), deps = { names } }.
local function dpkg_db()
  local db = {}
  local fmt = "${Package}\\t${Essential}\\t${Priority}\\t${Pre-Depends}, ${Depends}\\n"
  for _, line in ipairs(lines_of("dpkg-query -W -f=" .. quote(fmt))) do
    local name, essential, priority, deps = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local list = {}
    for dep in deps:gmatch("[^,]+") do
      -- the first alternative, as apt picks it
      local first = dep:match("^%s*([%w%.%+%-]+)")
      if first then list[#list + 1] = first end
    end
    db[name] = { base = essential == "yes" or priority == "required", deps = list }
  end
  return db
end

-- The packages roots pull in (roots included), by their Depends.
local function closure(db, roots)
  local seen, todo = {}, {}
  for name in pairs(roots) do todo[#todo + 1] = name end
  while #todo > 0 do
    local name = table.remove(todo)
    if not seen[name] and db[name] then
      seen[name] = true
      for _, d in ipairs(db[name].deps) do todo[#todo + 1] = d end
    end
  end
  return seen
end

describe("deploy/", function()
  if not fake_kube.kubectl_available() then
    pending("needs " .. fake_kube.KUBECTL)
    return
  end

  local crds, needed, also
  setup(function()
    crds = crd_files()
    needed, also = expand(NEEDED, crds), expand(ALSO_GRANTED, crds)
  end)

  it("crds/Kustomization lists every CRD file, and kubectl applies crds/ both ways", function()
    local rendered = {}
    for _, d in ipairs(render("crds")) do
      assert.equal("CustomResourceDefinition", d.kind)
      rendered[#rendered + 1] = d.metadata.name
    end
    local want = {}
    for _, c in ipairs(crds) do want[#want + 1] = c.name end
    table.sort(rendered)
    table.sort(want)
    assert.same(want, rendered)

    local fk = fake_kube.start()
    finally(function() fk.stop() end)
    local out, err, code = fk.kubectl({ "apply", "-k", "crds" })
    assert.equal(0, code, err)
    local _, created = out:gsub(" created\n", "")
    assert.equal(#crds, created, out)
    -- the file is not named kustomization.yaml so that -f still takes only CRDs
    out, err, code = fk.kubectl({ "apply", "-f", "crds/" })
    assert.equal(0, code, err)
    local _, unchanged = out:gsub(" unchanged\n", "")
    assert.equal(#crds, unchanged, out)
    out, err, code = fk.kubectl({ "get", "crd", "-o", "name" })
    assert.equal(0, code, err)
    for _, c in ipairs(crds) do
      local line = "customresourcedefinition.apiextensions.k8s.io/" .. c.name .. "\n"
      assert.truthy(out:find(line, 1, true), out)
    end
  end)

  for _, install in ipairs({ "cluster", "namespaced", "irsa" }) do
    describe(install, function()
      local docs, dep, container, args, env
      setup(function()
        docs = render("deploy/" .. install)
        local deps = find(docs, "Deployment")
        assert.equal(1, #deps)
        dep = deps[1]
        container = smop_container(dep)
        args, env = expanded_args(dep, container)
      end)

      it("runs `smop run` with flags the binary takes, and --leader-elect", function()
        -- no command: the image's ENTRYPOINT (smop) gets these args
        assert.is_nil(container.command)
        assert.equal("run", args[1])
        assert.equal(true, flag(args, "--leader-elect"))
        local cmd = { table.unpack(args) }
        for _, a in ipairs(args) do assert.is_nil(a:find("$(", 1, true), "unexpanded " .. a) end
        cmd[#cmd + 1] = "--help"   -- exit 0 only when every flag before it parses
        local _, err, code = smop.run(cmd)
        assert.equal(0, code, table.concat(cmd, " ") .. ": " .. err)
      end)

      it("probes /healthz and /readyz on the port of --metrics-addr", function()
        local addr = flag(args, "--metrics-addr") or ":8080"
        local port = tonumber(addr:match(":(%d+)$") or addr:match("^(%d+)$"))
        assert.is_truthy(port, addr)
        local ports = {}
        for _, p in ipairs(container.ports or {}) do
          if p.name then ports[p.name] = p.containerPort end
        end
        for probe, path in pairs({ livenessProbe = "/healthz", readinessProbe = "/readyz" }) do
          local get = assert(container[probe] and container[probe].httpGet, probe .. " is no httpGet")
          assert.equal(path, get.path)
          assert.equal(port, ports[get.port] or tonumber(get.port), probe .. " port " .. tostring(get.port))
        end
      end)

      it("runs non-root, read-only, with no capabilities, and outlives --shutdown-timeout", function()
        local pod = dep.spec.template.spec
        local psc, csc = pod.securityContext or {}, container.securityContext or {}
        assert.is_true(csc.runAsNonRoot == true or (psc.runAsNonRoot == true and csc.runAsNonRoot ~= false),
          "runAsNonRoot")
        local uid = csc.runAsUser or psc.runAsUser
        assert.is_true(uid == nil or uid > 0, "runAsUser " .. tostring(uid))
        assert.is_true(csc.readOnlyRootFilesystem, "readOnlyRootFilesystem")
        assert.is_false(csc.allowPrivilegeEscalation, "allowPrivilegeEscalation")
        assert.same({ "ALL" }, setmetatable((csc.capabilities or {}).drop or {}, nil))
        assert.equal("RuntimeDefault", (csc.seccompProfile or psc.seccompProfile or {}).type)
        local shutdown = tonumber(flag(args, "--shutdown-timeout")) or 10
        local grace = pod.terminationGracePeriodSeconds or 30
        assert.is_true(grace > shutdown, string.format("terminationGracePeriodSeconds %d is not over "
          .. "--shutdown-timeout %d: running syncs are killed and the Lease is not handed back",
          grace, shutdown))
        -- one uid in the image and the pod, not two to keep in mind
        local stages = dockerfile_stages(read_file("Dockerfile"))
        local user = step_of(stages[#stages], "USER") or ""
        if uid then assert.equal(tostring(uid), user:match("^(%d+)"), "the Dockerfile's USER") end
      end)

      it("grants the service account exactly what the code calls, where it calls it", function()
        local sa_name = dep.spec.template.spec.serviceAccountName
        local ns = dep.metadata.namespace
        assert.equal(1, #find(docs, "ServiceAccount", sa_name, ns), "no ServiceAccount " .. tostring(sa_name))
        local grants = grants_of(docs, ns, sa_name)
        -- the Lease sits where run.lua puts it: --leader-elect-namespace, else
        -- POD_NAMESPACE, else the service account's namespace
        local lease_ns = flag(args, "--leader-elect-namespace") or env.POD_NAMESPACE or ns
        assert.equal(ns, lease_ns, "the Lease's namespace is not the operator's")
        local watched = flag(args, "--namespace")
        local scope = { watch = watched or "*", lease = lease_ns }
        if install == "namespaced" then
          assert.equal("string", type(watched), "no --namespace NS in the args")
          for _, kind in ipairs({ "ClusterRole", "ClusterRoleBinding", "Namespace",
            "CustomResourceDefinition" }) do
            assert.equal(0, #find(docs, kind), "a namespaced install creates no " .. kind)
          end
        else
          assert.is_nil(watched, "--namespace in a cluster-wide install")
        end
        for _, row in ipairs(needed) do
          assert.is_true(allowed(grants, scope[row.where], row), string.format("%s %s %q in %s (%s)",
            row.verb, row.resource, row.group, scope[row.where], row.why))
        end
        -- and nothing else, nowhere else
        for _, g in ipairs(grants) do
          local ok = false
          for _, list in ipairs({ needed, also }) do
            for _, row in ipairs(list) do
              if g.group == row.group and g.resource == row.resource and g.verb == row.verb
                and g.scope == scope[row.where] then
                ok = true
              end
            end
          end
          assert.is_true(ok, string.format("granted but not needed: %s %s %q in %s",
            g.verb, g.resource, g.group, g.scope))
        end
      end)

      if install == "irsa" then
        it("names an IAM role on the service account", function()
          local sa = find(docs, "ServiceAccount", dep.spec.template.spec.serviceAccountName)[1]
          local arn = (sa.metadata.annotations or {})["eks.amazonaws.com/role-arn"]
          assert.matches("^arn:aws[%w-]*:iam::%d+:role/[%w+=,.@/_-]+$", arn)
        end)
      end
    end)
  end
end)

describe("Dockerfile", function()
  local stages, build, runtime, db
  setup(function()
    stages = dockerfile_stages(read_file("Dockerfile"))
    build, runtime = stages[1], stages[#stages]
    db = dpkg_db()
  end)

  it("builds and runs on this machine's Debian release, so the package checks below hold", function()
    assert.equal(2, #stages)
    local codename = read_file("/etc/os-release"):match("VERSION_CODENAME=(%w+)")
    assert.matches("^debian:" .. codename .. "%-slim%s+AS%s+build$", build.from)
    assert.equal("debian:" .. codename .. "-slim", runtime.from)
  end)

  it("installs the -dev package of every pkg_check_modules REQUIRED in CMakeLists.txt", function()
    local pkgs = apt_of(build)
    for _, tool in ipairs({ "cmake", "pkg-config", "make" }) do assert.is_true(pkgs[tool], tool) end
    assert.is_true(pkgs.gcc or pkgs["build-essential"], "no C compiler")
    local modules = {}
    for body in read_file("CMakeLists.txt"):gmatch("pkg_check_modules%(([^%)]*)%)") do
      local words = {}
      for w in body:gmatch("%S+") do words[#words + 1] = w end
      local required = false
      for i = 2, #words do
        if words[i] == "REQUIRED" then required = true end
        if words[i]:match("^[%l%d]") then modules[#modules + 1] = { name = words[i]:gsub("[<>=].*$", ""),
          required = required } end
      end
    end
    assert.is_true(#modules >= 7)
    for _, m in ipairs(modules) do
      local dir = run("pkg-config --variable=pcfiledir " .. quote(m.name)):gsub("%s+$", "")
      if dir ~= "" then
        local pc = dir .. "/" .. m.name .. ".pc"
        local pkg = packages_of({ pc })[pc]
        assert.is_truthy(pkg, "no package owns " .. pc)
        if m.required then
          assert.is_true(pkgs[pkg], m.name .. " needs " .. pkg .. " in the build stage")
        else
          -- optional modules are for the tests, which the image does not build
          assert.is_nil(pkgs[pkg], pkg .. " in the build stage")
        end
      else
        assert.is_false(m.required, "pkg-config does not know " .. m.name)
      end
    end
  end)

  it("installs a package for every shared library smop links, and no other", function()
    local pkgs, no_recommends, lists_removed = apt_of(runtime)
    assert.is_true(no_recommends)
    assert.is_true(lists_removed)
    assert.is_true(pkgs["ca-certificates"], "libcurl verifies TLS peers with the CA bundle")
    local out, err, code = run("ldd " .. quote(smop.bin))
    assert.equal(0, code, err)
    local paths = {}
    for line in out:gmatch("[^\n]+") do
      local soname = line:match("^%s*(%S+)")
      local path = line:match("=>%s*(/%S+)") or line:match("^%s*(/%S+)")
      -- a -DSMOP_SANITIZE=ON build under test links the sanitizer runtimes; the image never does
      local sanitizer = ({ a = true, ub = true, l = true, t = true, hwa = true })[
        soname:match("^lib(%a+)san%.so")]
      if path and not sanitizer then paths[#paths + 1] = path end
    end
    assert.is_true(#paths >= 8, out)
    local owner = packages_of(paths)
    local provided = closure(db, pkgs)
    local base = {}
    for name, p in pairs(db) do if p.base then base[name] = true end end
    base = closure(db, base)
    local used = {}
    for _, path in ipairs(paths) do
      local pkg = owner[path]
      assert.is_truthy(pkg, "no Debian package owns " .. path)
      used[pkg] = true
      assert.is_true(base[pkg] or provided[pkg] or false,
        path .. " (" .. pkg .. ") is not in the runtime image")
    end
    for pkg in pairs(pkgs) do
      if pkg ~= "ca-certificates" then
        assert.is_true(used[pkg] or false, pkg .. " provides no library smop links")
      end
    end
  end)

  it("copies the binary to /usr/local/bin/smop and runs `smop run` as a non-root user", function()
    assert.matches("^%-%-from=build%s+%S+/smop%s+/usr/local/bin/smop$", step_of(runtime, "COPY"))
    -- numeric: the kubelet cannot check runAsNonRoot against a user name
    local user = step_of(runtime, "USER")
    assert.matches("^%d+:%d+$", user)
    assert.is_true(tonumber(user:match("^(%d+)")) > 0, "USER " .. user)
    assert.equal('["/usr/local/bin/smop"]', step_of(runtime, "ENTRYPOINT"))
    assert.equal('["run"]', step_of(runtime, "CMD"))
  end)
end)
