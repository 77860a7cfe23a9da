-- fake.kube.patch: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
-- strategic merge patch, checked against the RFCs' own examples.
-- luacheck: no max line length (expected messages are quoted whole, as the apiserver writes them)
local json = require("smop.json")
local patch = require("fake.kube.patch")

local function J(s) return json.decode(s) end
local function enc(v) return json.encode(v, { sorted = true }) end

describe("fake.kube.patch merge (RFC 7386)", function()
  -- RFC 7386 Appendix A, every row: original, patch, result.
  local rows = {
    { '{"a":"b"}', '{"a":"c"}', '{"a":"c"}' },
    { '{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}' },
    { '{"a":"b"}', '{"a":null}', '{}' },
    { '{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}' },
    { '{"a":["b"]}', '{"a":"c"}', '{"a":"c"}' },
    { '{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}' },
    { '{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}' },
    { '{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}' },
    { '["a","b"]', '["c","d"]', '["c","d"]' },
    { '{"a":"b"}', '["c"]', '["c"]' },
    { '{"a":"foo"}', 'null', 'null' },
    { '{"a":"foo"}', '"bar"', '"bar"' },
    { '{"e":null}', '{"a":1}', '{"a":1,"e":null}' },
    { '[1,2]', '{"a":"b","c":null}', '{"a":"b"}' },
    { '{}', '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}' },
  }
  for i, row in ipairs(rows) do
    it("appendix A row " .. i, function()
      local p = J(row[2])
      local out
      if type(p) == "table" and not json.is_array(p) then
        out = patch.merge(J(row[1]), p)
      else
        -- a non-object patch replaces the document (the apiserver refuses it; see below)
        out = p
      end
      assert.are.equal(enc(J(row[3])), enc(out))
    end)
  end

  it("RFC 7386 section 3: the worked example", function()
    local target = J([[{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},
      "tags":["example","sample"],"content":"This will be unchanged"}]])
    local p = J([[{"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]}]])
    local want = J([[{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
      "content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}]])
    assert.are.equal(enc(want), enc(patch.merge(target, p)))
  end)

  it("keeps empty arrays as arrays and does not touch its arguments", function()
    local doc = J('{"a":[],"b":{"c":1}}')
    local out = patch.merge(doc, J('{"b":{"c":null},"d":[]}'))
    assert.are.equal('{"a":[],"b":{},"d":[]}', enc(out))
    assert.are.equal('{"a":[],"b":{"c":1}}', enc(doc))
  end)

  it("refuses a merge patch that is not an object, as a bad request", function()
    local out, msg, how = patch.merge(J('{"a":1}'), J('[1]'))
    assert.is_nil(out)
    assert.are.equal("Invalid JSON Patch", msg)
    assert.are.equal("bad_request", how)
  end)
end)

describe("fake.kube.patch json (RFC 6902)", function()
  -- RFC 6902 Appendix A: document, patch, result (or the failure).
  local rows = {
    { "A.1 adding an object member", '{"foo":"bar"}', '[{"op":"add","path":"/baz","value":"qux"}]',
      '{"baz":"qux","foo":"bar"}' },
    { "A.2 adding an array element", '{"foo":["bar","baz"]}', '[{"op":"add","path":"/foo/1","value":"qux"}]',
      '{"foo":["bar","qux","baz"]}' },
    { "A.3 removing an object member", '{"baz":"qux","foo":"bar"}', '[{"op":"remove","path":"/baz"}]',
      '{"foo":"bar"}' },
    { "A.4 removing an array element", '{"foo":["bar","qux","baz"]}', '[{"op":"remove","path":"/foo/1"}]',
      '{"foo":["bar","baz"]}' },
    { "A.5 replacing a value", '{"baz":"qux","foo":"bar"}', '[{"op":"replace","path":"/baz","value":"boo"}]',
      '{"baz":"boo","foo":"bar"}' },
    { "A.6 moving a value", '{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}',
      '[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]',
      '{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}' },
    { "A.7 moving an array element", '{"foo":["all","grass","cows","eat"]}',
      '[{"op":"move","from":"/foo/1","path":"/foo/3"}]', '{"foo":["all","cows","eat","grass"]}' },
    { "A.8 testing a value: success", '{"baz":"qux","foo":["a",2,"c"]}',
      '[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]',
      '{"baz":"qux","foo":["a",2,"c"]}' },
    { "A.9 testing a value: error", '{"baz":"qux"}', '[{"op":"test","path":"/baz","value":"bar"}]',
      nil, "testing value /baz failed: test failed" },
    { "A.10 adding a nested member object", '{"foo":"bar"}', '[{"op":"add","path":"/child","value":{"grandchild":{}}}]',
      '{"child":{"grandchild":{}},"foo":"bar"}' },
    { "A.11 ignoring unrecognized elements", '{"foo":"bar"}',
      '[{"op":"add","path":"/baz","value":"qux","xyz":123}]', '{"baz":"qux","foo":"bar"}' },
    { "A.12 adding to a nonexistent target", '{"foo":"bar"}', '[{"op":"add","path":"/baz/bat","value":"qux"}]',
      nil, 'add operation does not apply: doc is missing path: "/baz/bat": missing value' },
    { "A.14 ~ escape ordering", '{"/":9,"~1":10}', '[{"op":"test","path":"/~01","value":10}]',
      '{"/":9,"~1":10}' },
    { "A.15 comparing strings and numbers", '{"/":9,"~1":10}', '[{"op":"test","path":"/~01","value":"10"}]',
      nil, "testing value /~01 failed: test failed" },
    { "A.16 adding an array value", '{"foo":["bar"]}', '[{"op":"add","path":"/foo/-","value":["abc","def"]}]',
      '{"foo":["bar",["abc","def"]]}' },
    { "copy", '{"a":{"b":1}}', '[{"op":"copy","from":"/a","path":"/c"}]', '{"a":{"b":1},"c":{"b":1}}' },
    { "~1 in a path", '{"metadata":{"annotations":{}}}',
      '[{"op":"add","path":"/metadata/annotations/example.com~1x","value":"y"}]',
      '{"metadata":{"annotations":{"example.com/x":"y"}}}' },
    { "remove a missing key", '{"a":1}', '[{"op":"remove","path":"/b"}]',
      nil, "Unable to remove nonexistent key: b: missing value" },
    { "replace a missing key", '{"a":1}', '[{"op":"replace","path":"/b","value":2}]',
      nil, "replace operation does not apply: doc is missing key: /b: missing value" },
    { "index out of range", '{"a":[1]}', '[{"op":"add","path":"/a/5","value":2}]',
      nil, "Unable to access invalid index: 5: invalid index referenced" },
    { "move from a missing path", '{"a":1}', '[{"op":"move","from":"/x","path":"/y"}]',
      nil, "move operation does not apply: doc is missing from path: /x: missing value" },
    { "unknown op", '{"a":1}', '[{"op":"frob","path":"/a"}]', nil, "Unexpected kind: frob: unknown object type" },
  }
  for _, row in ipairs(rows) do
    it(row[1], function()
      local out, msg, how = patch.json(J(row[2]), J(row[3]))
      if row[4] then
        assert.is_nil(msg)
        assert.are.equal(enc(J(row[4])), enc(out))
      else
        assert.is_nil(out)
        assert.are.equal(row[5], msg)
        assert.are.equal("invalid", how)
      end
    end)
  end

  it("A.13 a patch that is not a list of operations is a bad request", function()
    local out, msg, how = patch.json(J('{"a":1}'), J('{"op":"add","path":"/a","value":1}'))
    assert.is_nil(out)
    assert.matches("cannot unmarshal object", msg)
    assert.are.equal("bad_request", how)
  end)

  it("applies operations in order and leaves the input alone", function()
    local doc = J('{"a":[1,2,3]}')
    local out = patch.json(doc, J('[{"op":"remove","path":"/a/0"},{"op":"add","path":"/a/0","value":9},{"op":"test","path":"/a","value":[9,2,3]}]'))
    assert.are.equal('{"a":[9,2,3]}', enc(out))
    assert.are.equal('{"a":[1,2,3]}', enc(doc))
  end)

  it("parses JSON pointers", function()
    assert.are.same({}, patch.parse_pointer(""))
    assert.are.same({ "a~b", "c/d", "" }, patch.parse_pointer("/a~0b/c~1d/"))
    assert.is_nil(patch.parse_pointer("a"))
  end)
end)

describe("fake.kube.patch strategic", function()
  local meta = { fields = {
    metadata = { fields = {
      finalizers = { strategy = "merge" },
      ownerReferences = { strategy = "merge", key = "uid" },
    } },
    status = { fields = { conditions = { strategy = "merge", key = "type" } } },
  } }

  local rows = {
    { "merges maps, null deletes", '{"spec":{"a":1,"b":2}}', '{"spec":{"b":null,"c":3}}', '{"spec":{"a":1,"c":3}}' },
    { "Lease renewal (kube-wire 17)",
      '{"metadata":{"annotations":{"x":"1"}},"spec":{"holderIdentity":"h","leaseDurationSeconds":15,"renewTime":"2026-11-23T12:08:28.313134Z"}}',
      '{"metadata":{"annotations":{"x":"2"}},"spec":{"renewTime":"2026-11-23T12:08:30.693822Z"}}',
      '{"metadata":{"annotations":{"x":"2"}},"spec":{"holderIdentity":"h","leaseDurationSeconds":15,"renewTime":"2026-11-23T12:08:30.693822Z"}}' },
    { "replaces lists without a strategy", '{"spec":{"l":[1,2]}}', '{"spec":{"l":[3]}}', '{"spec":{"l":[3]}}' },
    { "merges finalizers as a set", '{"metadata":{"finalizers":["a","b"]}}', '{"metadata":{"finalizers":["b","c"]}}',
      '{"metadata":{"finalizers":["a","b","c"]}}' },
    { "$deleteFromPrimitiveList", '{"metadata":{"finalizers":["a","b"]}}',
      '{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}', '{"metadata":{"finalizers":["b"]}}' },
    { "merges owner references by uid",
      '{"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"b"}]}}',
      '{"metadata":{"ownerReferences":[{"uid":"2","name":"B"},{"uid":"3","name":"c"}]}}',
      '{"metadata":{"ownerReferences":[{"name":"a","uid":"1"},{"name":"B","uid":"2"},{"name":"c","uid":"3"}]}}' },
    { "$patch: delete of a list item",
      '{"status":{"conditions":[{"type":"A","status":"True"},{"type":"B","status":"False"}]}}',
      '{"status":{"conditions":[{"type":"A","$patch":"delete"}]}}',
      '{"status":{"conditions":[{"status":"False","type":"B"}]}}' },
    { "merges conditions by type",
      '{"status":{"conditions":[{"type":"A","status":"True","reason":"x"}]}}',
      '{"status":{"conditions":[{"type":"A","status":"False"}]}}',
      '{"status":{"conditions":[{"reason":"x","status":"False","type":"A"}]}}' },
    { "$patch: replace of a list", '{"metadata":{"finalizers":["a","b"]}}',
      '{"metadata":{"finalizers":[{"$patch":"replace"},"c"]}}', '{"metadata":{"finalizers":["c"]}}' },
    { "$patch: replace of a map", '{"data":{"a":"1","b":"2"}}', '{"data":{"$patch":"replace","c":"3"}}',
      '{"data":{"c":"3"}}' },
    { "$patch: delete of a map", '{"data":{"a":"1"},"x":1}', '{"data":{"$patch":"delete"}}', '{"x":1}' },
    { "$retainKeys", '{"spec":{"a":1,"b":2,"c":3}}', '{"spec":{"$retainKeys":["a","d"],"d":4}}', '{"spec":{"a":1,"d":4}}' },
    { "$setElementOrder", '{"metadata":{"finalizers":["a","b"]}}',
      '{"metadata":{"$setElementOrder/finalizers":["c","b","a"],"finalizers":["c"]}}',
      '{"metadata":{"finalizers":["c","b","a"]}}' },
  }
  for _, row in ipairs(rows) do
    it(row[1], function()
      local out, msg = patch.strategic(J(row[2]), J(row[3]), meta)
      assert.is_nil(msg)
      assert.are.equal(enc(J(row[4])), enc(out))
    end)
  end

  it("keeps an empty list an array", function()
    local out = patch.strategic(J('{"a":{}}'), J('{"b":[]}'), meta)
    assert.are.equal('{"a":{},"b":[]}', enc(out))
  end)

  it("refuses an unknown directive", function()
    local out, msg, how = patch.strategic(J('{"a":{}}'), J('{"a":{"$patch":"frob"}}'), meta)
    assert.is_nil(out)
    assert.matches("Unknown patch directive", msg)
    assert.are.equal("bad_request", how)
  end)
end)

describe("fake.kube.patch apply", function()
  it("knows the patch media types", function()
    assert.are.equal("merge", patch.type_of("application/merge-patch+json"))
    assert.are.equal("json", patch.type_of("application/json-patch+json; charset=utf-8"))
    assert.are.equal("strategic", patch.type_of("application/strategic-merge-patch+json"))
    assert.are.equal("apply", patch.type_of("application/apply-patch+yaml"))
    assert.is_nil(patch.type_of("text/plain"))
  end)

  it("decodes a JSON text body and reports bad JSON as a bad request", function()
    local out = patch.apply("application/merge-patch+json", J('{"a":1}'), '{"b":2}')
    assert.are.equal('{"a":1,"b":2}', enc(out))
    local none, msg, how = patch.apply("merge", J('{"a":1}'), '{"b":')
    assert.is_nil(none)
    assert.is_string(msg)
    assert.are.equal("bad_request", how)
  end)
end)
