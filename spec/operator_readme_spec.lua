-- The worked example of lua/README.md ("Kind scripts") is a working kind
-- script: what a ConfigMap user copies must run.
local harness = require("spec.support.operator")

local function readme_example()
  local f = assert(io.open("lua/README.md"))
  local text = f:read("a")
  f:close()
  local section = assert(text:match("### A worked example(.*)$"))
  local code = assert(section:match("```lua\n(.-)```"), "no lua block in the worked example")
  return assert(load(code, "=README worked example", "t"))()
end

describe("the README's kind script example", function()
  it("creates, tracks, stops and finalizes a TrainingJob", function()
    local kind = readme_example()
    assert.are.equal("TrainingJob", kind.kind)
    harness.run({ kinds = { kind } }, function(h)
      h.create("readme-job")
      h.wait("InProgress", function() return h.status("readme-job") == "InProgress" end)
      assert.are.equal("Starting", h.status("readme-job", "secondaryStatus"))
      assert(h.kube:delete(h.path("readme-job")))
      h.wait("Stopping", function() return h.status("readme-job") == "Stopping" end)
      h.advance(10)
      h.wait("the object gone", function()
        local _, err = h.get("readme-job")
        return err and err.code == 404
      end)
      assert.are.equal(1, h.succeeded("CreateTrainingJob"))
      assert.are.equal(1, h.succeeded("StopTrainingJob"))
    end)
  end)
end)
