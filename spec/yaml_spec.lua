-- smop.yaml: YAML read as Kubernetes reads manifests (src/lyaml.c).
local json = require "smop.json"
local yaml = require "smop.yaml"

local function as_json(v) return json.encode(v, { sorted = true }) end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function decode_error(s, msg, opts)
  local v, err = yaml.decode(s, opts)
  assert.is_nil(v)
  assert.is_string(err)
  assert.truthy(err:find(msg, 1, true), "expected <" .. msg .. "> in <" .. err .. ">")
  return err
end

-- The value of `v: <text>`.
local function scalar(text)
  return assert(yaml.decode("v: " .. text)).v
end

describe("smop.yaml", function()
  describe("scalars", function()
    it("reads booleans the way kubectl does (YAML 1.1)", function()
      for _, t in ipairs({ "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y" }) do
        assert.equal(true, scalar(t), t)
      end
      for _, t in ipairs({ "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N" }) do
        assert.equal(false, scalar(t), t)
      end
      assert.equal("tRUE", scalar("tRUE"))
      assert.equal("yes please", scalar("yes please"))
    end)

    it("reads nulls as json.null", function()
      for _, t in ipairs({ "", "~", "null", "Null", "NULL" }) do
        assert.equal(json.null, scalar(t), t)
      end
      assert.equal("nULL", scalar("nULL"))
    end)

    it("reads integers with Go's base prefixes", function()
      local cases = {
        ["0"] = 0, ["42"] = 42, ["-42"] = -42, ["+42"] = 42, ["1_000"] = 1000,
        ["0x1f"] = 31, ["0X1F"] = 31, ["-0x10"] = -16, ["0o17"] = 15, ["017"] = 15,
        ["0b101"] = 5, ["-0b101"] = -5, ["9223372036854775807"] = math.maxinteger,
        ["-9223372036854775808"] = math.mininteger,
      }
      for text, want in pairs(cases) do
        local got = scalar(text)
        assert.equal("integer", math.type(got), text)
        assert.equal(want, got, text)
      end
    end)

    it("reads floats", function()
      local cases = {
        ["1.5"] = 1.5, [".5"] = 0.5, ["-.5"] = -0.5, ["+1.5"] = 1.5, ["1e3"] = 1000.0,
        ["1E-3"] = 0.001, ["1."] = 1.0, ["08"] = 8.0, ["1_000.5"] = 1000.5,
        ["9223372036854775808"] = 2.0 ^ 63, ["18446744073709551615"] = 2.0 ^ 64,
        [".inf"] = math.huge, ["-.Inf"] = -math.huge, ["+.INF"] = math.huge,
      }
      for text, want in pairs(cases) do
        local got = scalar(text)
        assert.equal("float", math.type(got), text)
        assert.equal(want, got, text)
      end
      local nan = scalar(".nan")
      assert.is_true(nan ~= nan)
    end)

    it("leaves everything else a string", function()
      for _, t in ipairs({ "2001-12-14", "2001-12-14T21:59:43.10Z", "1:20", "0x", "0xg", "1e400",
        "1.2.3", "+", ".", "..", "12abc", "v1", "0o8", "- x", "a: b", "~x", "<<" }) do
        -- `- x` and `a: b` only as flow or quoted values
        local v = t:find("[:-] ") and assert(yaml.decode("v: '" .. t .. "'")).v or scalar(t)
        assert.equal(t, v, t)
      end
    end)

    it("treats quoted scalars as strings", function()
      assert.equal("true", scalar('"true"'))
      assert.equal("123", scalar("'123'"))
      assert.equal("", scalar('""'))
      assert.equal("null", scalar("'null'"))
      assert.equal("a\tb\n😀", scalar('"a\\tb\\n\\U0001F600"'))
    end)

    it("honours standard tags", function()
      assert.equal("123", scalar("!!str 123"))
      assert.equal("true", scalar("!!str true"))
      assert.equal(42, scalar('!!int "42"'))
      assert.equal("float", math.type(scalar("!!float 1")))
      assert.equal(1.0, scalar("!!float 1"))
      assert.equal(true, scalar('!!bool "yes"'))
      assert.equal(json.null, scalar("!!null ''"))
      assert.equal("12", scalar("! 12"))
      assert.equal("2001-12-14", scalar("!!timestamp 2001-12-14"))
      assert.equal("aGVsbG8=", scalar("!!binary aGVsbG8="))
      assert.equal("x", scalar("!Ref x"))
      decode_error("v: !!int abc", "yaml: cannot decode !!str `abc` as a !!int at line 1 column 4")
      decode_error("v: !!bool 1", "cannot decode !!int `1` as a !!bool")
      decode_error("v: !!null x", "cannot decode !!str `x` as a !!null")
    end)
  end)

  describe("collections", function()
    it("marks sequences as arrays, mappings stay plain", function()
      local v = yaml.decode("a: []\nb: {}\nc:\n  - 1\n  - [x, {}]\n")
      assert.equal(json.array_mt, getmetatable(v.a))
      assert.is_nil(getmetatable(v.b))
      assert.equal(json.array_mt, getmetatable(v.c))
      assert.equal('{"a":[],"b":{},"c":[1,["x",{}]]}', as_json(v))
    end)

    it("keeps nulls in sequences and mappings", function()
      local v = yaml.decode("a: [~, 1, null]\nb:\nc: ~\n")
      assert.equal(3, #v.a)
      assert.equal('{"a":[null,1,null],"b":null,"c":null}', as_json(v))
    end)

    it("turns non-string keys into strings", function()
      local v = yaml.decode("1: a\n1.5: b\ntrue: c\n~: d\n0x10: e\nn: f\n'2': g\n")
      assert.equal('{"1":"a","1.5":"b","16":"e","2":"g","false":"f","null":"d","true":"c"}', as_json(v))
    end)

    it("refuses collections as keys", function()
      decode_error("? [a]\n: 1\n", "yaml: mapping keys must be scalars at line 1 column 3")
      decode_error("a: &x [1]\n*x : 2\n", "mapping keys must be scalars at line 2 column 1")
    end)

    it("copies aliased values", function()
      local v = yaml.decode("base: &b {image: x, args: [1]}\none: *b\ntwo: *b\ns: &s hi\nt: *s\n")
      assert.equal('{"args":[1],"image":"x"}', as_json(v.one))
      assert.are_not.equal(v.one, v.two)
      assert.are_not.equal(v.base.args, v.one.args)
      assert.equal(json.array_mt, getmetatable(v.one.args))
      v.one.image = "changed"
      assert.equal("x", v.two.image)
      assert.equal("hi", v.t)
    end)

    it("merges with <<, explicit keys winning wherever they stand", function()
      local v = yaml.decode([[
defaults: &d {a: 1, b: 2, c: 3}
extra: &e {c: 30, d: 40}
one:
  b: 20
  <<: *d
two:
  <<: [*e, *d]
  a: 10
three:
  "<<": not a merge
]])
      assert.equal('{"a":1,"b":20,"c":3}', as_json(v.one))
      assert.equal('{"a":10,"b":2,"c":30,"d":40}', as_json(v.two))
      assert.equal('{"<<":"not a merge"}', as_json(v.three))
      decode_error("a: {<<: 1}", "a merge (<<) needs a mapping or a list of mappings")
      decode_error("a: {<<: [1]}", "a merge (<<) needs a mapping or a list of mappings")
    end)

    it("stops alias expansion (billion laughs)", function()
      local lol = { 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]' }
      local prev = "a"
      for _, name in ipairs({ "b", "c", "d", "e", "f", "g", "h", "i" }) do
        local refs = string.rep("*" .. prev .. ",", 8) .. "*" .. prev
        lol[#lol + 1] = name .. ": &" .. name .. " [" .. refs .. "]"
        prev = name
      end
      decode_error(table.concat(lol, "\n"), "aliases expand to too many nodes (max_alias_nodes)")
      local small = "a: &a [1, 2]\nb: [*a, *a]\n"
      assert.is_table(yaml.decode(small, { max_alias_nodes = 6 }))
      decode_error(small, "aliases expand to too many nodes", { max_alias_nodes = 5 })
    end)

    it("reports unknown anchors", function()
      decode_error("a: 1\nb: *nope\n", "yaml: unknown anchor 'nope' referenced at line 2 column 4")
      decode_error("a: &x [*x]", "unknown anchor 'x'")
    end)

    it("keeps anchors to their document", function()
      local docs, err = yaml.decode_all("a: &x 1\n---\nb: *x\n")
      assert.is_nil(docs)
      assert.truthy(err:find("unknown anchor 'x'", 1, true))
    end)
  end)

  describe("documents", function()
    local manifests = read_file("spec/fixtures/codec/manifests.yaml")

    it("reads a kubectl-style multi-document file, skipping empty documents", function()
      local docs = assert(yaml.decode_all(manifests))
      assert.equal(json.array_mt, getmetatable(docs))
      assert.equal(3, #docs)
      assert.same({ "CustomResourceDefinition", "TrainingJob", "ConfigMap" },
        { docs[1].kind, docs[2].kind, docs[3].kind })

      local crd = docs[1]
      local v1 = crd.spec.versions[1]
      assert.equal(true, v1.served)
      assert.equal("{}", json.encode(v1.subresources.status))
      assert.equal("[]", json.encode(crd.spec.names.shortNames))
      assert.same({ "roleArn", "trainingJobName" }, v1.schema.openAPIV3Schema.properties.spec.required)
      assert.equal(1, v1.schema.openAPIV3Schema.properties.spec.properties.resourceConfig
        .properties.instanceCount.minimum)
      assert.equal(".metadata.creationTimestamp", v1.additionalPrinterColumns[2].jsonPath)

      local job = docs[2]
      assert.equal("xgboost", job.metadata.labels["app.kubernetes.io/name"])
      assert.equal("arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole",
        job.spec.roleArn)
      assert.equal("5", job.spec.hyperParameters[1].value)
      assert.equal("on", job.spec.hyperParameters[4].value)
      assert.equal("433757028032.dkr.ecr.us-west-2.amazonaws.com/xgboost:1",
        job.spec.algorithmSpecification.trainingImage)
      assert.equal(1, job.spec.resourceConfig.instanceCount)
      assert.equal("integer", math.type(job.spec.stoppingCondition.maxRuntimeInSeconds))
      assert.equal("[]", json.encode(job.spec.tags))
      assert.equal(false, job.spec.enableNetworkIsolation)
      assert.equal(json.null, job.spec.vpcConfig)
      local validation = job.spec.inputDataConfig[2].dataSource.s3DataSource
      assert.equal("s3://my-bucket/xgboost-mnist/validation/", validation.s3Uri)
      assert.equal("FullyReplicated", validation.s3DataDistributionType)
      assert.equal("s3://my-bucket/xgboost-mnist/train/",
        job.spec.inputDataConfig[1].dataSource.s3DataSource.s3Uri)

      local cm = docs[3]
      assert.equal("local M = {}\nfunction M.reconcile(obj, ctx)\n  return ctx.default(obj)\nend\nreturn M\n",
        cm.data["kinds.trainingjob.lua"])
      assert.equal("folded text\n", cm.data.note)
    end)

    it("decode returns the first document", function()
      assert.equal("CustomResourceDefinition", yaml.decode(manifests).kind)
      assert.equal(1, yaml.decode("1\n---\n2\n"))
      assert.equal(json.null, yaml.decode(""))
      assert.equal(json.null, yaml.decode("# only a comment\n"))
      assert.same({}, yaml.decode_all(""))
      assert.equal("[]", json.encode(yaml.decode_all("---\n---\n")))
    end)

    it("reads JSON as YAML", function()
      local text = '{"a": [1, 2.5, null, true, "x"], "b": {}, "c": []}'
      assert.equal(as_json(json.decode(text)), as_json(yaml.decode(text)))
    end)
  end)

  describe("errors", function()
    it("say what and where", function()
      assert.equal("yaml: mapping values are not allowed in this context at line 1 column 5",
        select(2, yaml.decode("a: b: c")))
      local err = decode_error("a: [1, 2\nb: 3\n",
        "yaml: did not find expected ',' or ']' at line 2 column 2")
      assert.truthy(err:find("while parsing a flow sequence at line 1 column 4", 1, true))
      decode_error("a:\n  - 1\n - 2\n", "at line 3 column 2")
      decode_error("key: \"unterminated\n", "found unexpected end of stream at line 2 column 1")
      decode_error("a: \t\1\n", "control characters are not allowed")
      decode_error("a: \xff\n", "yaml: invalid leading UTF-8 octet (byte 0xff) at line 1 column 4")
    end)

    it("limit nesting", function()
      assert.is_table(yaml.decode(string.rep("[", 200) .. string.rep("]", 200)))
      decode_error(string.rep("[", 201) .. string.rep("]", 201),
        "yaml: nesting deeper than 200 levels at line 1 column 201")
      decode_error(string.rep("[", 100000), "nesting deeper than 200 levels")
      decode_error("a: {b: {c: 1}}", "nesting deeper than 2 levels", { max_depth = 2 })
      -- aliases count their depth where they land
      decode_error("a: &a {b: {c: 1}}\nd: {e: *a}\n", "nesting deeper than 3 levels", { max_depth = 3 })
    end)

    it("limit the input size", function()
      decode_error("a: 1\n", "yaml: input of 5 bytes is larger than max_size (4 bytes)", { max_size = 4 })
    end)
  end)

  describe("encode", function()
    it("writes block style with sorted keys", function()
      local out = yaml.encode({ kind = "TrainingJob", apiVersion = "v1", spec = { b = { 1, 2 }, a = "x" } })
      assert.equal("apiVersion: v1\nkind: TrainingJob\nspec:\n  a: x\n  b:\n  - 1\n  - 2\n", out)
    end)

    it("writes empty containers and null in flow form", function()
      assert.equal("a: []\nb: {}\nc: null\n",
        yaml.encode({ a = json.array(), b = {}, c = json.null }))
      assert.equal("[]\n", yaml.encode(json.array()))
      assert.equal("{}\n", yaml.encode({}))
      assert.equal("null\n", yaml.encode(json.null))
    end)

    it("quotes strings that would read back as something else", function()
      local tricky = { "true", "yes", "on", "n", "Y", "null", "~", "", "123", "-1", "0x1f", "017", "1.5",
        ".5", "1e3", ".inf", "-.inf", ".nan", "<<", "2024-01-01", "1:20", "- x", "a: b", "#c", "x #y",
        "&a", "*a", "!t", "|", ">", "'", "\"", "%", "@", "`", "[x]", "{x}", ",", "?", " lead", "trail ",
        "multi\nline", "multi\nline\n", "multi\n\n", "\ttab", "é😀", "back\\slash", "ctl\1", "08",
        "{a: 1}", "x: ", "---", "...", "- ", "a\r\nb" }
      for _, s in ipairs(tricky) do
        local out = yaml.encode({ v = s, [s] = "key" })
        local back = yaml.decode(out)
        assert.equal(s, back.v, ("value %q via %q"):format(s, out))
        assert.equal("key", back[s], ("key %q via %q"):format(s, out))
      end
      assert.equal('v: "true"\n', yaml.encode({ v = "true" }))
      assert.equal('v: "123"\n', yaml.encode({ v = "123" }))
      assert.equal('v: ""\n', yaml.encode({ v = "" }))
      assert.equal("v: plain words\n", yaml.encode({ v = "plain words" }))
    end)

    it("writes multi-line strings as literal blocks", function()
      assert.equal("script: |\n  line 1\n  line 2\n", yaml.encode({ script = "line 1\nline 2\n" }))
      assert.equal("script: |-\n  line 1\n  line 2\n", yaml.encode({ script = "line 1\nline 2" }))
    end)

    it("writes numbers so they read back", function()
      local v = { i = math.maxinteger, f = 0.1, g = 1e300, h = 3.0, k = -2.5,
        inf = math.huge, ninf = -math.huge }
      local back = yaml.decode(yaml.encode(v))
      assert.equal(math.maxinteger, back.i)
      assert.equal(0.1, back.f)
      assert.equal(1e300, back.g)
      assert.equal(3, back.h)
      assert.equal(-2.5, back.k)
      assert.equal(math.huge, back.inf)
      assert.equal(-math.huge, back.ninf)
      assert.equal("v: .nan\n", yaml.encode({ v = 0 / 0 }))
    end)

    it("round-trips the manifests", function()
      local docs = assert(yaml.decode_all(read_file("spec/fixtures/codec/manifests.yaml")))
      local text = assert(yaml.encode_all(docs))
      assert.truthy(text:find("\n---\n", 1, true))
      local again = assert(yaml.decode_all(text))
      assert.equal(as_json(docs), as_json(again))
      assert.equal(text, yaml.encode_all(again))
    end)

    it("writes top-level scalars", function()
      assert.equal("x", yaml.decode(yaml.encode("x")))
      assert.equal(5, yaml.decode(yaml.encode(5)))
      assert.equal(true, yaml.decode(yaml.encode(true)))
    end)

    it("names the path of what it cannot write", function()
      local function encode_error(v, msg)
        local s, err = yaml.encode(v)
        assert.is_nil(s)
        assert.truthy(err:find(msg, 1, true), "expected <" .. msg .. "> in <" .. tostring(err) .. ">")
      end
      encode_error({ spec = { f = print } }, "cannot encode function at .spec.f")
      encode_error({ spec = { list = { 1, x = 1 } } }, "cannot encode table at .spec.list: mixed keys")
      encode_error({ a = { "\xff" } }, "cannot encode string at .a[1]: not valid UTF-8")
      local t = {}
      t.self = t
      encode_error(t, "nesting deeper than 200 levels (a cycle?)")
      local s, err = yaml.encode_all({ { a = 1 }, { b = print } })
      assert.is_nil(s)
      assert.equal("document 2: cannot encode function at .b", err)
      assert.has_error(function() yaml.encode_all({ a = 1 }) end)
    end)

    it("bounds the output", function()
      local s, err = yaml.encode({ a = string.rep("x", 1000) }, { max_size = 100 })
      assert.is_nil(s)
      assert.equal("output is larger than max_size (100 bytes)", err)
    end)
  end)
end)
