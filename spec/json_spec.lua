-- smop.json: strict JSON with array and null marks (src/ljson.c, src/json.c).
local json = require "smop.json"
local smop = require "spec.support.smop"

local function sorted(v) return json.encode(v, { sorted = true }) end
local function roundtrip(s) return sorted(assert(json.decode(s))) end

-- Asserts that decoding fails with a message containing `msg` (plain text).
local function decode_error(s, msg, opts)
  local v, err = json.decode(s, opts)
  assert.is_nil(v)
  assert.is_string(err)
  assert.truthy(err:find(msg, 1, true), "expected <" .. msg .. "> in <" .. err .. ">")
  return err
end

local function encode_error(v, msg, opts)
  local s, err = json.encode(v, opts)
  assert.is_nil(s)
  assert.is_string(err)
  assert.truthy(err:find(msg, 1, true), "expected <" .. msg .. "> in <" .. err .. ">")
  return err
end

describe("smop.json", function()
  describe("marks", function()
    it("tells [] from {} through a round trip", function()
      assert.equal("[]", roundtrip("[]"))
      assert.equal("{}", roundtrip("{}"))
      assert.equal('{"a":[],"b":{},"c":[[],{}],"d":[{"e":[]}]}',
        roundtrip('{"a":[],"b":{},"c":[[],{}],"d":[{"e":[]}]}'))
    end)

    it("marks every decoded array and no object", function()
      local v = json.decode('{"list":[1,{"x":[]}]}')
      assert.is_nil(getmetatable(v))
      assert.equal(json.array_mt, getmetatable(v.list))
      assert.is_nil(getmetatable(v.list[2]))
      assert.equal(json.array_mt, getmetatable(v.list[2].x))
      assert.is_true(json.is_array(v.list))
      assert.is_false(json.is_array(v))
    end)

    it("writes an empty plain table as an object and json.array() as an array", function()
      assert.equal("{}", json.encode({}))
      assert.equal("[]", json.encode(json.array()))
      assert.equal("[]", json.encode(setmetatable({}, json.array_mt)))
      local t = {}
      assert.equal(t, json.array(t))
      assert.equal(json.array_mt, getmetatable(t))
    end)

    it("writes a plain sequence as an array", function()
      assert.equal('[1,"two",true]', json.encode({ 1, "two", true }))
      assert.is_true(json.is_array({ 1, 2 }))
      assert.is_false(json.is_array({}))
      assert.is_false(json.is_array("x"))
    end)

    it("writes json.object() tables as objects, integer keys as strings", function()
      assert.equal('{"1":"a","2":"b"}', sorted(json.object({ "a", "b" })))
      assert.equal('{"200":"ok","404":"missing"}',
        sorted(json.object({ [200] = "ok", [404] = "missing" })))
      assert.equal("{}", json.encode(json.object()))
      assert.equal(json.object_mt, getmetatable(json.object()))
      assert.is_false(json.is_array(json.object({ 1 })))
    end)

    it("keeps json.null in arrays and objects", function()
      local v = json.decode('{"a":null,"b":[null,1,null]}')
      assert.equal(json.null, v.a)
      assert.equal(3, #v.b)
      assert.equal(json.null, v.b[1])
      assert.equal(json.null, v.b[3])
      assert.equal('{"a":null,"b":[null,1,null]}', sorted(v))
      assert.equal("null", json.encode(json.null))
      assert.equal(json.null, json.decode("null"))
      assert.equal("userdata", type(json.null))
    end)

    it("writes a merge patch that deletes a field", function()
      local patch = { metadata = { finalizers = json.null }, status = { additional = json.null } }
      assert.equal('{"metadata":{"finalizers":null},"status":{"additional":null}}', sorted(patch))
    end)
  end)

  describe("decode", function()
    it("reads scalars", function()
      assert.equal(true, json.decode("true"))
      assert.equal(false, json.decode(" false "))
      assert.equal("x", json.decode('"x"'))
      assert.equal(0, json.decode("0"))
      assert.equal(-12, json.decode("-12"))
    end)

    it("reads integers that fit int64 as integers, others as floats", function()
      assert.equal("integer", math.type(json.decode("9223372036854775807")))
      assert.equal(math.maxinteger, json.decode("9223372036854775807"))
      assert.equal(math.mininteger, json.decode("-9223372036854775808"))
      assert.equal("float", math.type(json.decode("9223372036854775808")))
      assert.equal(2.0 ^ 63, json.decode("9223372036854775808"))
      assert.equal("float", math.type(json.decode("-9223372036854775809")))
      assert.equal("float", math.type(json.decode("1.0")))
      assert.equal("float", math.type(json.decode("1e2")))
      assert.equal(100.0, json.decode("1e2"))
      assert.equal(0.1, json.decode("0.1"))
      assert.equal(-2.5e-10, json.decode("-2.5E-10"))
      assert.equal(1.7976931348623157e308, json.decode("1.7976931348623157e308"))
    end)

    it("reads SageMaker's fractional epoch seconds exactly", function()
      assert.equal(1574290955.123, json.decode('{"CreationTime":1574290955.123}').CreationTime)
    end)

    it("decodes escapes, \\u escapes and surrogate pairs to UTF-8", function()
      assert.equal('"\\/\b\f\n\r\t', json.decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'))
      assert.equal("é", json.decode('"\\u00e9"'))
      assert.equal("€", json.decode('"\\u20AC"'))
      assert.equal("😀", json.decode('"\\ud83d\\ude00"'))
      assert.equal("a\0b", json.decode('"a\\u0000b"'))
      -- lone surrogates become U+FFFD, as the API server's Go decoder does
      assert.equal("\u{FFFD}x", json.decode('"\\ud800x"'))
      assert.equal("\u{FFFD}\u{FFFD}", json.decode('"\\udc00\\ud800"'))
      assert.equal("\u{FFFD}A", json.decode('"\\ud83d\\u0041"'))
    end)

    it("passes UTF-8 and other bytes through", function()
      assert.equal("héllo 世界", json.decode('"héllo 世界"'))
      assert.equal("\xff\xfe", json.decode('"\xff\xfe"'))
      local keys = json.decode('{"ключ":"значение"}')
      assert.equal("значение", keys["ключ"])
    end)

    it("keeps the last of duplicate keys", function()
      assert.equal(2, json.decode('{"a":1,"a":2}').a)
    end)

    it("accepts whitespace where the grammar allows it", function()
      assert.equal('{"a":[1,2]}', roundtrip(' \t\r\n{ "a" : [ 1 , 2 ] }\n'))
    end)

    it("rejects what RFC 8259 rejects", function()
      decode_error("", "unexpected end of input")
      decode_error("[1,]", "trailing comma before ']'")
      decode_error('{"a":1,}', "trailing comma before '}'")
      decode_error("[1 2]", "expected ',' or ']' but found '2'")
      decode_error('{"a" 1}', "expected ':' after object key but found '1'")
      decode_error("{a:1}", "expected a string key but found 'a'")
      decode_error("// c\n1", "unexpected character '/'")
      decode_error("NaN", "unexpected character 'N'")
      decode_error("Infinity", "unexpected character 'I'")
      decode_error("-Infinity", "expected a digit after '-'")
      decode_error("01", "leading zeros are not allowed")
      decode_error("1.", "expected a digit after '.'")
      decode_error(".5", "unexpected character '.'")
      decode_error("1e", "expected a digit in the exponent")
      decode_error("+1", "unexpected character '+'")
      decode_error("0x10", "unexpected data after the value: 'x'")
      decode_error("tru", "unexpected character 't'")
      decode_error("nul", "unexpected character 'n'")
      decode_error("'x'", "unexpected character '''")
      decode_error('"a\nb"', "unescaped control character 0x0a in string")
      decode_error('"\\x"', "invalid escape 'x'")
      decode_error('"\\u12"', "invalid \\u escape")
      decode_error('"\\u12g4"', "invalid \\u escape")
      decode_error('"abc', "unterminated string")
      decode_error("[1", "unexpected end of input")
      decode_error("[1]]", "unexpected data after the value: ']'")
      decode_error("{} {}", "unexpected data after the value: '{'")
      decode_error("[1}", "expected ',' or ']' but found '}'")
      decode_error("1\0", "unexpected data after the value: (byte 0x00)")
    end)

    it("says where the error is: line, column in characters, 1-based byte", function()
      assert.equal("trailing comma before ']' at line 1 column 4 (byte 4)", select(2, json.decode("[1,]")))
      assert.equal("expected ',' or '}' but found ']' at line 3 column 9 (byte 21)",
        select(2, json.decode('{\n  "a": 1,\n  "b": 2]')))
      -- column counts characters, bytes count bytes
      assert.equal("expected ',' or ']' but found 'x' at line 1 column 6 (byte 7)",
        select(2, json.decode('["é" x]')))
      assert.equal("unexpected character 'x' at line 1 column 8 (byte 9)",
        select(2, json.decode('["é" , x]')))
      assert.equal("unterminated string at line 2 column 1 (byte 3)", select(2, json.decode('[\n"abc')))
      assert.equal("unexpected end of input at line 1 column 1 (byte 1)", select(2, json.decode("")))
    end)

    it("limits nesting", function()
      local deep = string.rep("[", 200) .. string.rep("]", 200)
      assert.is_table(json.decode(deep))
      local err = decode_error(string.rep("[", 201) .. string.rep("]", 201), "nesting deeper than 200 levels")
      assert.truthy(err:find("column 201 (byte 201)", 1, true))
      decode_error('{"a":{"b":1}}', "nesting deeper than 1 levels", { max_depth = 1 })
      assert.is_table(json.decode('{"a":1}', { max_depth = 1 }))
      -- far past any limit: an error, not a crash
      decode_error(string.rep("[", 100000), "nesting deeper than 200 levels")
      assert.is_table(json.decode(string.rep("[", 1000) .. string.rep("]", 1000), { max_depth = 1000 }))
    end)

    it("limits the input size", function()
      decode_error("[1,2,3]", "input of 7 bytes is larger than max_size (6 bytes)", { max_size = 6 })
      assert.is_table(json.decode("[1,2,3]", { max_size = 7 }))
    end)

    it("rejects bad options as programming errors", function()
      assert.has_error(function() json.decode("1", { max_depth = 0 }) end)
      assert.has_error(function() json.decode("1", { max_depth = "x" }) end)
      assert.has_error(function() json.decode("1", 5) end)
      assert.has_error(function() json.decode() end)
    end)
  end)

  describe("encode", function()
    it("writes integers exactly and floats in the shortest form that reads back", function()
      assert.equal("9223372036854775807", json.encode(math.maxinteger))
      assert.equal("-9223372036854775808", json.encode(math.mininteger))
      assert.equal("0.1", json.encode(0.1))
      assert.equal("0.30000000000000004", json.encode(0.1 + 0.2))
      assert.equal("1e+300", json.encode(1e300))
      assert.equal("3", json.encode(3.0))
      assert.equal("1574290955.123", json.encode(1574290955.123))
      for _, x in ipairs({ 0.1, 1 / 3, 2 ^ 53 + 0.0, 1e-300, 123456.789, -0.5, 2 ^ -1074 }) do
        assert.equal(x, json.decode(json.encode(x)))
      end
    end)

    it("refuses NaN and infinities", function()
      encode_error(0 / 0, "cannot encode NaN at top level: JSON numbers must be finite")
      encode_error({ a = { 1, math.huge } }, "cannot encode infinity at .a[2]")
      encode_error({ x = -math.huge }, "cannot encode infinity at .x")
    end)

    it("escapes quotes, backslashes and control characters only", function()
      assert.equal([["a\"b\\c\n\t\r\b\f\u0001\u001f\u0000 /é😀]] .. "\127\"",
        json.encode('a"b\\c\n\t\r\b\f\1\31\0 /é😀\127'))
      assert.equal('"\xff"', json.encode("\xff"))
    end)

    it("round-trips strings with every byte value", function()
      local bytes = {}
      for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
      local s = table.concat(bytes)
      assert.equal(s, json.decode(json.encode(s)))
    end)

    it("sorts keys on request and pretty prints", function()
      local v = { b = 1, a = { 1, json.array(), {} }, c = { d = json.null } }
      assert.equal('{"a":[1,[],{}],"b":1,"c":{"d":null}}', json.encode(v, { sorted = true }))
      assert.equal(table.concat({
        "{",
        '  "a": [',
        "    1,",
        "    [],",
        "    {}",
        "  ],",
        '  "b": 1,',
        '  "c": {',
        '    "d": null',
        "  }",
        "}",
      }, "\n"), json.encode(v, { sorted = true, indent = 2 }))
    end)

    it("writes every key when not sorting", function()
      local v = {}
      for i = 1, 100 do v["k" .. i] = i end
      local back = json.decode(json.encode(v))
      for i = 1, 100 do assert.equal(i, back["k" .. i]) end
    end)

    it("names the path of a table it cannot write", function()
      encode_error({ spec = { foo = { 1, x = 2 } } }, "cannot encode table at .spec.foo: mixed keys")
      encode_error({ a = { [1] = 1, [3] = 3 } },
        "cannot encode table at .a: integer keys are not a sequence 1..n")
      encode_error({ [0] = "zero" }, "cannot encode table at top level: integer keys are not a sequence")
      encode_error({ l = { { {}, { [true] = 1 } } } }, "cannot encode table at .l[1][2]: key of type boolean")
      encode_error({ x = { [1.5] = 1 } }, "cannot encode table at .x: key 1.5")
      encode_error({ metadata = { annotations = { ["app.kubernetes.io/name"] = { f = print } } } },
        'cannot encode function at .metadata.annotations["app.kubernetes.io/name"].f')
      encode_error({ a = json.array({ 1, b = 2 }) },
        'cannot encode table at .a: array has the non-index key "b"')
      encode_error({ co = coroutine.create(print) }, "cannot encode thread at .co")
    end)

    it("stops at cycles", function()
      local t = { a = {} }
      t.a.back = t
      local err = encode_error(t, "nesting deeper than 200 levels (a cycle?)")
      assert.truthy(#err < 600)
      encode_error({ { { 1 } } }, "cannot encode table at [1][1]: nesting deeper than 2 levels",
        { max_depth = 2 })
    end)

    it("bounds the output", function()
      local s, err = json.encode({ string.rep("x", 100) }, { max_size = 50 })
      assert.is_nil(s)
      assert.equal("output is larger than max_size (50 bytes)", err)
      assert.equal(104, #json.encode({ string.rep("x", 100) }, { max_size = 104 }))
    end)

    it("ignores metatables other than its own marks", function()
      local t = setmetatable({ a = 1 }, { __index = function() return "x" end, __pairs = error })
      assert.equal('{"a":1}', json.encode(t))
    end)

    it("writes nil at the top level as null", function()
      assert.equal("null", json.encode(nil))
    end)
  end)

  describe("Kubernetes and AWS shapes", function()
    it("round-trips a watch event unchanged", function()
      local ev = '{"object":{"apiVersion":"sagemaker.aws.amazon.com/v1","kind":"TrainingJob",' ..
        '"metadata":{"finalizers":["sagemaker-operator-finalizer"],"generation":1,' ..
        '"labels":{},"name":"xgb","resourceVersion":"12345"},' ..
        '"spec":{"hyperParameters":[{"name":"max_depth","value":"5"}],' ..
        '"inputDataConfig":[],"resourceConfig":{"instanceCount":1,"volumeSizeInGB":5},' ..
        '"tags":null},"status":{}},"type":"ADDED"}'
      assert.equal(ev, roundtrip(ev))
    end)

    it("encodes an AWS request with an empty list", function()
      local req = { TrainingJobName = "xgb", Tags = json.array(), HyperParameters = {} }
      assert.equal('{"HyperParameters":{},"Tags":[],"TrainingJobName":"xgb"}', sorted(req))
    end)
  end)

  it("handles a large document", function()
    local items = json.array()
    for i = 1, 20000 do
      items[i] = { name = "job-" .. i, n = i, f = i / 7, tags = json.array({ "a", "b" }), none = json.null }
    end
    local s = sorted({ items = items })
    local back = json.decode(s)
    assert.equal(20000, #back.items)
    assert.equal("job-20000", back.items[20000].name)
    assert.equal(20000 / 7, back.items[20000].f)
    assert.equal(s, sorted(back))
  end)

  it("fails cleanly at the VM's memory cap, JSON and YAML alike", function()
    local script = "spec/fixtures/scripts/codec_memcap.lua"
    local calls = { "json.decode", "yaml.decode", "yaml.decode_all", "json.encode", "yaml.encode" }
    local out, err, code = smop.run({ "--memory-limit", "12", "exec", script })
    assert.equal(0, code, err)
    for _, name in ipairs(calls) do
      assert.truthy(out:find(name .. "\tfalse\tnot enough memory\n", 1, true), name .. " in:\n" .. out)
    end
    assert.truthy(out:find('after\t{"ok":true}\tok: true\n', 1, true), out)
    -- with room to spare the same calls succeed: the failures above are the cap
    out, err, code = smop.run({ "--memory-limit", "128", "exec", script })
    assert.equal(0, code, err)
    for _, name in ipairs(calls) do
      assert.truthy(out:find(name .. "\ttrue\t", 1, true), name .. " in:\n" .. out)
    end
  end)
end)
