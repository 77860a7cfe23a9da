-- /healthz and /readyz for the kubelet's probes, as a smop.server handler.
--
--   server.listen{ handler = health.handler(op), ... }
--
-- /healthz answers 200 while the event loop serves at all (a hung loop
-- cannot answer). /readyz answers 200 once every informer has delivered its
-- first full list, else 503 naming each kind that is not synced, its phase
-- and its last error (e.g. "trainingjobs: backoff: 403 Forbidden ...") so
-- `kubectl describe pod` shows why. op:state() gives { controllers = {...} }
-- (controller.state()). Anything else is 404, so a metrics handler can be
-- chained in front.
local M = {}

local TEXT = { ["Content-Type"] = "text/plain; charset=utf-8" }

function M.not_ready(op)
  local lines = {}
  for _, st in ipairs(op:state().controllers) do
    if not st.synced then
      lines[#lines + 1] = string.format("%s: %s%s", st.path, tostring(st.phase),
        st.last_error and (": " .. st.last_error) or "")
    end
  end
  return lines
end

function M.handler(op)
  return function(req)
    if req.method ~= "GET" and req.method ~= "HEAD" then
      return 405, TEXT, "method not allowed\n"
    end
    if req.path == "/healthz" or req.path == "/livez" then
      return 200, TEXT, "ok\n"
    elseif req.path == "/readyz" then
      local lines = M.not_ready(op)
      if #lines == 0 then return 200, TEXT, "ok\n" end
      return 503, TEXT, "not ready:\n" .. table.concat(lines, "\n") .. "\n"
    end
    return 404, TEXT, "not found\n"
  end
end

return M
