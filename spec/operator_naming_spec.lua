-- COMPAT.md "SageMaker names": metadata.name + "-" + uid without dashes,
-- cut from the end of the name, valid for SageMaker.
local naming = require("operator.naming")

local UID = "cf1e16fb-10a5-11ea-aa45-0a350733ba06"
local HEX = "cf1e16fb10a511eaaa450a350733ba06"
local SAGEMAKER_NAME = "^[a-zA-Z0-9]%-*[a-zA-Z0-9]"

local function valid(name)
  return name:match("^[a-zA-Z0-9][a-zA-Z0-9%-]*$") ~= nil and name:sub(-1) ~= "-"
end

describe("operator.naming", function()
  it("joins the name and the uid without dashes", function()
    assert.are.equal("xgboost-mnist-" .. HEX, naming.generate("xgboost-mnist", UID, 63))
  end)

  it("cuts the end of a long name to fit 63", function()
    local name = string.rep("a", 40) .. "-tail"
    local out = naming.generate(name, UID, 63)
    assert.are.equal(63, #out)
    assert.are.equal(string.rep("a", 30) .. "-" .. HEX, out)
  end)

  it("keeps a name that ends in a dash after the cut valid", function()
    local out = naming.generate(string.rep("a", 29) .. "-bbbb", UID, 63)
    assert.are.equal(string.rep("a", 29) .. "--" .. HEX, out)
    assert.is_true(valid(out))
    assert.is_truthy(out:match(SAGEMAKER_NAME))
  end)

  it("uses the uid alone, cut, when the name cannot fit (tuning jobs: 32)", function()
    assert.are.equal(HEX, naming.generate("xgboost-mnist-hpo", UID, 32))
    assert.are.equal(HEX:sub(1, 20), naming.generate("x", UID, 20))
  end)

  it("turns the dots Kubernetes allows into dashes", function()
    local out = naming.generate("my.job.v1", UID, 63)
    assert.are.equal("my-job-v1-" .. HEX, out)
    assert.is_true(valid(out))
  end)

  it("names an object the same way every time", function()
    local obj = { metadata = { name = "xgboost-mnist", uid = UID } }
    assert.are.equal(naming.for_object(obj, 63), naming.for_object(obj, 63))
    assert.are.equal("xgboost-mnist-" .. HEX, naming.for_object(obj))
  end)
end)
