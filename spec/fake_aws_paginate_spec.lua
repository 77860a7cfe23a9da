-- fake.aws.paginate: opaque NextToken pages shared by every service module.
local paginate = require("fake.aws.paginate")
local json = require("smop.json")

local function items(n)
  local list = {}
  for i = 1, n do list[i] = { Name = "item-" .. i } end
  return list
end

local function names(page)
  local out = {}
  for i, it in ipairs(page) do out[i] = it.Name end
  return out
end

local OPTS = { scope = "ListThings", default = 2, limit = 3, key = function(it) return it.Name end }

describe("fake.aws.paginate", function()
  it("returns everything in one page when it fits, with no token", function()
    local page, token = paginate.page(items(2), {}, OPTS)
    assert.are.same({ "item-1", "item-2" }, names(page))
    assert.is_nil(token)
    assert.is_true(json.is_array(page))
    page = paginate.page({}, {}, OPTS)
    assert.are.equal("[]", json.encode(page))
  end)

  it("walks every item once, honouring MaxResults up to the limit", function()
    local list, seen, token = items(7), {}, nil
    repeat
      local page
      page, token = paginate.page(list, { MaxResults = 10, NextToken = token }, OPTS)
      assert.is_true(#page <= 3)
      for _, n in ipairs(names(page)) do seen[#seen + 1] = n end
    until not token
    assert.are.same(names(list), seen)
  end)

  it("continues after the last item returned when items were added or removed before it", function()
    local list = items(6)
    local page, token = paginate.page(list, { MaxResults = 3 }, OPTS)
    assert.are.same({ "item-1", "item-2", "item-3" }, names(page))
    table.remove(list, 1)
    table.insert(list, 1, { Name = "item-0" })
    table.insert(list, 1, { Name = "item-00" })
    page = paginate.page(list, { MaxResults = 3, NextToken = token }, OPTS)
    assert.are.same({ "item-4", "item-5", "item-6" }, names(page))
  end)

  it("refuses a token from another operation, other filters, or no token of ours", function()
    local _, token = paginate.page(items(5), { NameContains = "item" }, OPTS)
    assert.is_string(token)
    assert.is_not_nil((paginate.page(items(5),
      { NameContains = "item", NextToken = token, MaxResults = 1 }, OPTS)))
    local page, err = paginate.page(items(5), { NameContains = "other", NextToken = token }, OPTS)
    assert.is_nil(page)
    assert.is_string(err)
    assert.is_nil((paginate.page(items(5), { NameContains = "item", NextToken = token },
      { scope = "ListOthers", key = OPTS.key })))
    assert.is_nil((paginate.page(items(5), { NextToken = "garbage!" }, OPTS)))
    assert.is_nil((paginate.page(items(5), { NextToken = "djEKZm9vCjEKeA==" }, OPTS)))
  end)

  it("uses other field names for services that spell them so", function()
    local opts = { scope = "DescribeLogStreams", token_field = "nextToken", max_field = "limit",
      default = 50 }
    local page, token = paginate.page(items(3), { limit = 2 }, opts)
    assert.are.equal(2, #page)
    page, token = paginate.page(items(3), { limit = 2, nextToken = token }, opts)
    assert.are.same({ { "item-3" }, nil }, { names(page), token })
  end)
end)
