-- A small XML reader for AWS query-protocol answers (STS): elements, text,
-- entities, CDATA; attributes are skipped. Returns a tree of
-- { name = "Tag", children = { ... }, text = "..." } or nil, err.
local M = {}

local entities = { lt = "<", gt = ">", amp = "&", quot = '"', apos = "'" }

local function decode_entities(s)
  return (s:gsub("&(#?x?)(%w+);", function(kind, body)
    if kind == "" then return entities[body] end
    local code = tonumber(body, kind == "#x" and 16 or 10)
    if code and code >= 0 and code <= 0x10FFFF then return utf8.char(code) end
    return nil
  end))
end

function M.parse(text)
  local root = { name = "#document", children = {} }
  local stack = { root }
  local pos = 1
  local len = #text
  while pos <= len do
    local lt = text:find("<", pos, true)
    local top = stack[#stack]
    if not lt then
      if text:sub(pos):find("%S") then return nil, "xml: text after the root element" end
      break
    end
    if lt > pos and #stack > 1 then
      top.text = (top.text or "") .. decode_entities(text:sub(pos, lt - 1))
    end
    if text:sub(lt, lt + 3) == "<!--" then
      local close = text:find("-->", lt + 4, true)
      if not close then return nil, "xml: unterminated comment" end
      pos = close + 3
    elseif text:sub(lt, lt + 8) == "<![CDATA[" then
      local close = text:find("]]>", lt + 9, true)
      if not close then return nil, "xml: unterminated CDATA" end
      top.text = (top.text or "") .. text:sub(lt + 9, close - 1)
      pos = close + 3
    elseif text:sub(lt, lt + 1) == "<?" or text:sub(lt, lt + 1) == "<!" then
      local close = text:find(">", lt + 2, true)
      if not close then return nil, "xml: unterminated declaration" end
      pos = close + 1
    else
      local close = text:find(">", lt + 1, true)
      if not close then return nil, "xml: unterminated tag at byte " .. lt end
      local tag = text:sub(lt + 1, close - 1)
      if tag:sub(1, 1) == "/" then
        local name = tag:sub(2):match("^%s*([^%s]+)%s*$")
        if #stack < 2 or name ~= top.name then
          return nil, string.format("xml: unexpected </%s> at byte %d", tostring(name), lt)
        end
        stack[#stack] = nil
      else
        local name = tag:match("^([^%s/]+)")
        if not name then return nil, "xml: bad tag at byte " .. lt end
        local node = { name = name, children = {} }
        top.children[#top.children + 1] = node
        if tag:sub(-1) ~= "/" then stack[#stack + 1] = node end
      end
      pos = close + 1
    end
  end
  if #stack ~= 1 then return nil, "xml: unclosed <" .. stack[#stack].name .. ">" end
  if #root.children ~= 1 then return nil, "xml: expected one root element" end
  return root.children[1]
end

-- The first child element called name, or nil.
function M.child(node, name)
  for _, c in ipairs(node.children) do
    if c.name == name then return c end
  end
  return nil
end

return M
