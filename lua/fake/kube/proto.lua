-- Reading the Kubernetes protobuf encoding, for the request bodies kubectl's
-- typed clients send (`kubectl create configmap|secret|namespace` POST
-- `application/vnd.kubernetes.protobuf`). Answers stay JSON: those clients
-- accept it as their second choice.
--
--   proto.knows(kind_def) -> boolean
--   proto.decode(body, kind_def) -> object (as JSON would decode it) | nil, message
--
-- The body is the "k8s\0" magic and a runtime.Unknown envelope whose raw
-- bytes are the object's message (field numbers of k8s.io/api's
-- generated.proto). Only the kinds in MESSAGES are known; fields left at
-- their zero value are left out, as the JSON encoding's omitempty does.
local encoding = require("util.encoding")
local json = require("smop.json")

local M = {}

-- ---- wire format ----

local function varint(s, i)
  local v, shift = 0, 0
  while true do
    local b = s:byte(i)
    if not b then return nil, "truncated varint" end
    v = v | ((b & 0x7f) << shift)
    i = i + 1
    if b < 0x80 then return v, i end
    shift = shift + 7
    if shift > 63 then return nil, "varint too long" end
  end
end

-- Calls fn(field, wire_type, value) for every field of a message: value is
-- an integer (varint, fixed) or a string (length-delimited).
local function fields(s, fn)
  local i, n = 1, #s
  while i <= n do
    local key, j = varint(s, i)
    if not key then return nil, j end
    local field, wt = key >> 3, key & 7
    local v
    if wt == 0 then
      v, j = varint(s, j)
      if not v then return nil, j end
    elseif wt == 2 then
      local len
      len, j = varint(s, j)
      if not len then return nil, j end
      if len < 0 or j + len - 1 > n then return nil, "truncated field " .. field end
      v = s:sub(j, j + len - 1)
      j = j + len
    elseif wt == 1 then
      if j + 7 > n then return nil, "truncated fixed64" end
      v = string.unpack("<i8", s, j)
      j = j + 8
    elseif wt == 5 then
      if j + 3 > n then return nil, "truncated fixed32" end
      v = string.unpack("<i4", s, j)
      j = j + 4
    else
      return nil, "unsupported wire type " .. wt
    end
    local ok, err = fn(field, wt, v)
    if ok == false then return nil, err end
    i = j
  end
  return true
end

-- ---- messages ----
-- A message spec maps field numbers to { name, type }: "string", "bytes"
-- (base64 in JSON), "int", "bool", "time" (Time: RFC 3339), "strings"
-- (repeated), "map" / "bytes_map" (map<string,string|bytes>), or a nested
-- spec (table; `repeated = true` for lists).

local base64 = encoding.base64

local TIME = { [1] = { "seconds", "int" }, [2] = { "nanos", "int" } }
local OWNER_REFERENCE = { repeated = true,
  [1] = { "kind", "string" }, [3] = { "name", "string" }, [4] = { "uid", "string" },
  [5] = { "apiVersion", "string" }, [6] = { "controller", "bool" }, [7] = { "blockOwnerDeletion", "bool" } }
local OBJECT_META = {
  [1] = { "name", "string" }, [2] = { "generateName", "string" }, [3] = { "namespace", "string" },
  [4] = { "selfLink", "string" }, [5] = { "uid", "string" }, [6] = { "resourceVersion", "string" },
  [7] = { "generation", "int" }, [8] = { "creationTimestamp", "time" }, [9] = { "deletionTimestamp", "time" },
  [10] = { "deletionGracePeriodSeconds", "int" }, [11] = { "labels", "map" }, [12] = { "annotations", "map" },
  [13] = { "ownerReferences", OWNER_REFERENCE }, [14] = { "finalizers", "strings" },
}

M.MESSAGES = {
  ["/ConfigMap"] = { [1] = { "metadata", OBJECT_META }, [2] = { "data", "map" },
    [3] = { "binaryData", "bytes_map" }, [4] = { "immutable", "bool" } },
  ["/Secret"] = { [1] = { "metadata", OBJECT_META }, [2] = { "data", "bytes_map" },
    [3] = { "type", "string" }, [4] = { "stringData", "map" }, [5] = { "immutable", "bool" } },
  ["/Namespace"] = { [1] = { "metadata", OBJECT_META },
    [2] = { "spec", { [1] = { "finalizers", "strings" } } },
    [3] = { "status", { [1] = { "phase", "string" } } } },
}

local decode_message

local function map_entry(s, as_bytes)
  local k, v = "", ""
  local ok, err = fields(s, function(f, _, x)
    if f == 1 then k = x elseif f == 2 then v = x end
  end)
  if not ok then return nil, nil, err end
  if type(k) ~= "string" or type(v) ~= "string" then return nil, nil, "bad map entry" end
  return k, as_bytes and base64(v) or v
end

decode_message = function(s, spec)
  local obj = {}
  local ok, err = fields(s, function(f, wt, v)
    local d = spec[f]
    if not d then return end -- unknown field: skipped, as proto decoders do
    local name, typ = d[1], d[2]
    if type(typ) == "table" then
      if wt ~= 2 then return false, name .. ": wrong wire type" end
      local sub, serr = decode_message(v, typ)
      if not sub then return false, serr end
      if typ.repeated then
        obj[name] = obj[name] or json.array({})
        obj[name][#obj[name] + 1] = sub
      else
        obj[name] = sub
      end
    elseif typ == "string" then
      if wt ~= 2 then return false, name .. ": wrong wire type" end
      obj[name] = v ~= "" and v or nil
    elseif typ == "bytes" then
      obj[name] = base64(v)
    elseif typ == "int" then
      if wt ~= 0 then return false, name .. ": wrong wire type" end
      obj[name] = v ~= 0 and v or nil
    elseif typ == "bool" then
      obj[name] = v ~= 0
    elseif typ == "time" then
      local t, terr = decode_message(v, TIME)
      if not t then return false, terr end
      if (t.seconds or 0) ~= 0 then obj[name] = os.date("!%Y-%m-%dT%H:%M:%SZ", t.seconds) end
    elseif typ == "strings" then
      obj[name] = obj[name] or json.array({})
      obj[name][#obj[name] + 1] = v
    elseif typ == "map" or typ == "bytes_map" then
      local k, x, merr = map_entry(v, typ == "bytes_map")
      if not k then return false, merr end
      obj[name] = obj[name] or {}
      obj[name][k] = x
    end
  end)
  if not ok then return nil, err end
  return obj
end

local UNKNOWN = { [1] = { "typeMeta", { [1] = { "apiVersion", "string" }, [2] = { "kind", "string" } } },
  [2] = { "raw", "raw" }, [3] = { "contentEncoding", "string" }, [4] = { "contentType", "string" } }

local function spec_of(kind)
  return M.MESSAGES[(kind.group or "") .. "/" .. kind.kind]
end

-- Whether bodies of this kind can be read.
function M.knows(kind)
  return spec_of(kind) ~= nil
end

function M.decode(body, kind)
  local spec = spec_of(kind)
  if not spec then return nil, "no protobuf message known for " .. kind.kind end
  if body:sub(1, 4) ~= "k8s\0" then return nil, "provided data does not appear to be a protobuf message, "
    .. "expected prefix [107 56 115 0]" end
  local env, raw = {}, nil
  local ok, err = fields(body:sub(5), function(f, wt, v)
    local d = UNKNOWN[f]
    if not d or wt ~= 2 then return end
    if d[2] == "raw" then
      raw = v
    elseif type(d[2]) == "table" then
      local tm, terr = decode_message(v, d[2])
      if not tm then return false, terr end
      env.typeMeta = tm
    else
      env[d[1]] = v
    end
  end)
  if not ok then return nil, err end
  if (env.contentEncoding or "") ~= "" then
    return nil, "unsupported content encoding " .. env.contentEncoding
  end
  local obj, merr = decode_message(raw or "", spec)
  if not obj then return nil, merr end
  local tm = env.typeMeta or {}
  obj.apiVersion, obj.kind = tm.apiVersion, tm.kind
  obj.metadata = obj.metadata or {}
  return obj
end

return M
