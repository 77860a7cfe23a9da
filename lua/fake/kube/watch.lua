-- Watch streams: `?watch=true` (or /watch/...) answered 200 with a chunked
-- body, one JSON event per line, each written (and flushed) as it happens.
--
-- - From no resourceVersion (or "0") the stream starts with an ADDED event
--   per existing object; from a resourceVersion the store replays what came
--   after it (fake.kube.store does both). Too old: one ERROR event (Status 410 Expired) in the 200
--   stream, which then ends (kube-wire 14).
-- - timeoutSeconds ends the stream (zero-length chunk); without it the
--   server picks 30 to 60 minutes, as kube-apiserver does.
-- - allowWatchBookmarks: a BOOKMARK about 2 s before the deadline (13), and
--   one a minute on long watches, carrying the last resourceVersion.
-- - sendInitialEvents=true: the ADDED events, then a BOOKMARK annotated
--   k8s.io/initial-events-end (watch-list).
-- - Accept as=Table: every event carries a one-row Table; only the first
--   has columnDefinitions (12). as=PartialObjectMetadata likewise.
-- - A client that goes away is noticed within a second; the control
--   endpoint can end every stream at once.
local json = require("smop.json")
local status = require("fake.kube.status")
local tables = require("fake.kube.table")
local task = require("smop.task")
local wire = require("fake.kube.wire")

local M = {}

M.BOOKMARK_EVERY = 60       -- seconds between bookmarks on a long watch
M.BOOKMARK_BEFORE_END = 2   -- seconds before the deadline
M.POLL = 1                  -- how often a quiet stream checks its client

local function group_version(kind)
  return (kind.group or "") == "" and kind.version or (kind.group .. "/" .. kind.version)
end

local function bookmark_object(kind, rv, annotations)
  if not kind.custom then
    return wire.obj("kind", kind.kind, "apiVersion", group_version(kind),
      "metadata", wire.obj("resourceVersion", rv, "creationTimestamp", json.null,
        "annotations", annotations))
  end
  return { apiVersion = group_version(kind), kind = kind.kind,
    metadata = { resourceVersion = rv, annotations = annotations } }
end

local function parse_bool(v)
  return v == "true" or v == "1"
end

function M.serve(app, req, kind, ns, fmt)
  local a = req.args
  local timeout = tonumber(a.timeoutSeconds)
  if not timeout or timeout <= 0 then timeout = 1800 * (1 + math.random()) end
  local bookmarks = parse_bool(a.allowWatchBookmarks)
  local send_initial = parse_bool(a.sendInitialEvents)
  local store = app.store
  local start = task.now()
  local deadline = start + timeout

  -- from no resourceVersion (or "0") the store starts with the objects as
  -- ADDED events; sendInitialEvents adds the closing BOOKMARK
  local watcher, werr = store:watch(kind, ns, { resource_version = a.resourceVersion,
    label_selector = a.labelSelector, field_selector = a.fieldSelector, allow_bookmarks = bookmarks,
    send_initial_events = send_initial })
  if not watcher and not (type(werr) == "table" and werr.code == 410) then
    -- a bad selector or resourceVersion is refused before any stream starts
    local e = type(werr) == "table" and werr or status.internal(tostring(werr))
    return app:status_answer(req, e)
  end

  local w = req:stream(200, app:headers({ ["Content-Type"] = "application/json" }))
  local first_table = true

  local function render(obj)
    if fmt.format == "table" then
      local t = tables.for_object(kind, obj, { now = app:now(), api_version = fmt.api_version,
        no_headers = not first_table, include = a.includeObject })
      first_table = false
      return t
    elseif fmt.format == "partial" then
      return tables.partial(obj, fmt.api_version)
    end
    return tables.shape(kind, obj)
  end

  local wrote = false
  local function send(typ, obj)
    wrote = true
    return w:write(wire.encode(wire.obj("type", typ, "object", obj)))
  end

  if not watcher then
    -- too old: HTTP 200 and one ERROR event (kube-wire 14)
    send("ERROR", wire.status(werr))
    w:close()
    return
  end

  local dropped = false
  local handle = { drop = function()
    dropped = true
    watcher:close()
  end }
  app.control:watch_opened(handle)

  local ok = true
  local next_bookmark = start + M.BOOKMARK_EVERY
  local final_bookmark = deadline - M.BOOKMARK_BEFORE_END
  local final_sent = timeout < M.BOOKMARK_BEFORE_END + 1
  while ok and not dropped do
    local now = task.now()
    if now >= deadline then break end
    local wake = math.min(deadline, now + M.POLL)
    if bookmarks then
      wake = math.min(wake, next_bookmark)
      if not final_sent then wake = math.min(wake, final_bookmark) end
    end
    local ev, why = watcher:next(math.max(0, wake - now))
    if ev then
      local obj = ev.object
      if ev.type == "ERROR" then
        send("ERROR", wire.status(obj))
        break
      elseif ev.type == "BOOKMARK" then
        local m = type(obj) == "table" and obj.metadata or {}
        if bookmarks then
          ok = send("BOOKMARK", bookmark_object(kind, m.resourceVersion, m.annotations)) ~= nil
        end
      else
        ok = send(ev.type, render(obj)) ~= nil
      end
    elseif why ~= nil and why ~= "timeout" then
      break -- the store closed the watch (dropped)
    else
      now = task.now()
      -- an empty write only asks whether the client is still there (once
      -- the stream has a buffer: srv.c must not copy into a NULL one)
      if wrote and not w:write("") then break end
      if bookmarks and ((not final_sent and now >= final_bookmark) or now >= next_bookmark) then
        -- nothing pending: the watch is current up to the store's resourceVersion
        local rv = watcher.bookmark and watcher:bookmark().object.metadata.resourceVersion
          or tostring(store:resource_version())
        ok = send("BOOKMARK", bookmark_object(kind, rv)) ~= nil
        next_bookmark = now + M.BOOKMARK_EVERY
        if now >= final_bookmark then final_sent = true end
      end
    end
  end
  app.control:watch_closed(handle)
  watcher:close()
  w:close()
end

return M
