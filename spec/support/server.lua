-- Starts and stops a local test server: spec/support/httpd.py (the
-- smop.http specs) or another script printing "<port> <pid>" first.
-- Use in setup/teardown (or with finally): stop() always kills it, and the
-- server also exits by itself when smop does.
local M = {}

-- Returns a server: { port =, pid =, base = "http://127.0.0.1:<port>",
-- url = function(path) -> base .. path, stop = function() }.
-- opts.tls = { cert =, key = } serves https; opts.script and opts.python
-- pick another server (e.g. one needing Debian's /usr/bin/python3 modules).
function M.start(opts)
  opts = opts or {}
  local script = opts.script or "spec/support/httpd.py"
  local cmd = string.format("exec %s %s", opts.python or "python3", script)
  if opts.tls then
    cmd = string.format("%s --tls '%s' '%s'", cmd, opts.tls.cert, opts.tls.key)
  end
  local pipe = assert(io.popen(cmd, "r"))
  local first = pipe:read("l")
  local port, pid = (first or ""):match("^(%d+) (%d+)$")
  if not port then
    pipe:close()
    error(script .. " did not start (first line: " .. tostring(first) .. ")")
  end
  local scheme = opts.tls and "https" or "http"
  local host = opts.host or "127.0.0.1"
  local server = {
    port = tonumber(port),
    pid = tonumber(pid),
    base = string.format("%s://%s:%s", scheme, host, port),
  }
  function server.url(path)
    return server.base .. path
  end
  function server.stop()
    if pipe then
      os.execute("kill " .. server.pid .. " 2>/dev/null")
      pipe:close()
      pipe = nil
    end
  end
  return server
end

return M
