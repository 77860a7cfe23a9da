-- Pagination for the fake's List/Describe operations, shared by every
-- service module.
--
--   local paginate = require("fake.aws.paginate")
--   local page, token = paginate.page(items, input, {
--     scope = "ListTrainingJobs",   -- the operation: a token works only there
--     default = 10, limit = 100,    -- page size when MaxResults is absent; cap
--     key = function(item) return item.TrainingJobName end, -- optional anchor
--     token_field = "NextToken", max_field = "MaxResults",   -- the defaults
--   })
--   if not page then  -- token is then the reason: the token is not ours
--     return nil, ctx.error("ValidationException", "Invalid pagination token")
--   end
--   return { TrainingJobSummaries = page, NextToken = token }  -- token nil on the last page
--
-- items is the whole result, already filtered and sorted; page is a
-- json.array slice of it. Tokens are opaque (base64): they carry the offset
-- of the next item, the key of the last item returned, and a fingerprint of
-- the request minus the token and page-size fields, so a token is refused
-- when the filters or sort order changed (or it came from another
-- operation). With key, a page starts right after the last item returned
-- even when items were added or removed before it in the meantime;
-- without, it starts at the offset.
local codec = require("fake.aws.codec")
local json = require("smop.json")
local sigv4 = require("smop.sigv4")

local M = {}

local function fingerprint(input, opts, token_field, max_field)
  local rest = {}
  for k, v in pairs(input) do
    if k ~= token_field and k ~= max_field then rest[k] = v end
  end
  local text = (opts.scope or "") .. "\n" .. (json.encode(json.object(rest), { sorted = true }) or "")
  return sigv4.sha256_hex(text):sub(1, 16)
end

local function decode(token, fp)
  local raw = codec.unbase64(token)
  if not raw then return nil end
  local tfp, offset, anchor = raw:match("^v1\n(%x+)\n(%d+)\n(.*)$")
  if tfp ~= fp then return nil end
  return math.tointeger(tonumber(offset)), anchor
end

-- Returns page, next_token (nil at the end), or nil, reason for a token
-- this request cannot use.
function M.page(items, input, opts)
  opts = opts or {}
  local token_field = opts.token_field or "NextToken"
  local max_field = opts.max_field or "MaxResults"
  local fp = fingerprint(input, opts, token_field, max_field)
  local size = input[max_field]
  if type(size) ~= "number" or size < 1 then size = opts.default or 100 end
  if opts.limit and size > opts.limit then size = opts.limit end
  size = math.floor(size)

  local first = 1
  local token = input[token_field]
  if token ~= nil and token ~= json.null and token ~= "" then
    if type(token) ~= "string" then return nil, "the pagination token is not a string" end
    local offset, anchor = decode(token, fp)
    if not offset or offset < 1 then return nil, "the pagination token is not valid for this request" end
    first = offset
    local key = opts.key
    if key and anchor ~= "" and not (items[offset - 1] and key(items[offset - 1]) == anchor) then
      for i, item in ipairs(items) do
        if key(item) == anchor then
          first = i + 1
          break
        end
      end
    end
  end

  local page = json.array()
  local last = math.min(#items, first + size - 1)
  for i = first, last do page[#page + 1] = items[i] end
  if last >= #items then return page end
  local anchor = opts.key and tostring(opts.key(items[last])) or ""
  return page, codec.base64(string.format("v1\n%s\n%d\n%s", fp, last + 1, anchor))
end

return M
