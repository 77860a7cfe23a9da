-- smop.server: the in-process HTTP server, driven by the in-process client
-- (smop.http), by curl and by raw sockets (python3). Server and clients share
-- one thread, so external tools run in the background (run_bg) while the
-- spec's task keeps the loop turning.
local server = require("smop.server")
local http = require("smop.http")
local task = require("smop.task")
local json = require("smop.json")

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- Runs a shell command in the background and yields until it exits (a
-- blocking io.popen would stall the server in this very process).
-- Returns its stdout+stderr and exit code.
local function run_bg(cmd)
  local out = os.tmpname()
  assert(os.execute(string.format("( (%s) > %s 2>&1; echo $? > %s.tmp; mv %s.tmp %s.rc ) &",
    cmd, out, out, out, out)))
  local deadline = task.now() + 20
  while task.now() < deadline do
    local f = io.open(out .. ".rc")
    if f then
      local code = f:read("n")
      f:close()
      local text = slurp(out)
      os.remove(out)
      os.remove(out .. ".rc")
      return text, code
    end
    task.sleep(0.02)
  end
  error("still running after 20 s: " .. cmd)
end

-- Sends raw bytes (Lua escapes welcome) on a fresh connection and returns
-- everything the server answers until it closes or goes quiet.
local function raw_exchange(port, bytes)
  local script = [[
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
s.settimeout(5)
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except OSError:
    pass
sys.stdout.buffer.write(out)
]]
  local input = os.tmpname()
  local f = assert(io.open(input, "wb"))
  f:write(bytes)
  f:close()
  local text = run_bg(string.format("python3 -c %s %d < %s", quote(script), port, input))
  os.remove(input)
  return text
end

-- Yields until check() is true (the server's side of a test runs in other
-- tasks); fails after a generous deadline.
local function eventually(check, what)
  local deadline = task.now() + 10
  while not check() do
    if task.now() > deadline then
      error("timed out waiting for " .. what)
    end
    task.sleep(0.01)
  end
end

-- Runs fn(srv) in a task with a server for handler, closing it afterwards.
local function with_server(opts, fn)
  if type(opts) == "function" then
    opts = { handler = opts }
  end
  task.run(function()
    local srv = assert(server.listen(opts))
    local ok, err = pcall(fn, srv)
    srv:close()
    if not ok then -- a task's error must be a string: keep luassert's message
      error(type(err) == "table" and tostring(err.message) or err, 0)
    end
  end)
end

local function echo(req)
  return 200, { ["Content-Type"] = "application/json", ["X-Count"] = 42 },
    json.encode({
      method = req.method, path = req.path, query = req.query or json.null, args = req.args,
      headers = req.headers, body = req.body, remote = req.remote,
    })
end

describe("smop.server", function()
  describe("listen", function()
    it("binds 127.0.0.1 on a free port and reports it", function()
      task.run(function()
        local srv = assert(server.listen({ handler = echo }))
        assert.is_true(srv.port > 0)
        assert.are.equal("http://127.0.0.1:" .. srv.port, srv.url)
        srv:close()
      end)
    end)

    it("returns nil, err for a port in use, naming the address", function()
      with_server(echo, function(srv)
        local other, err = server.listen({ handler = echo, port = srv.port })
        assert.is_nil(other)
        assert.are.equal("listen 127.0.0.1:" .. srv.port .. ": Address already in use", err)
        other, err = server.listen({ handler = echo, host = "localhost" })
        assert.is_nil(other)
        assert.matches("numeric IP", err)
      end)
    end)

    it("rejects bad options as programmer errors", function()
      assert.has_error(function() server.listen({}) end,
        "server.listen: option handler must be a function")
      assert.has_error(function() server.listen({ handler = echo, prot = 1 }) end,
        "server.listen: unknown option prot")
      assert.has_error(function() server.listen({ handler = echo, port = 70000 }) end)
      assert.has_error(function() server.listen({ handler = echo, tls = { cert = "x" } }) end)
    end)

    it("refuses connections once closed", function()
      task.run(function()
        local srv = assert(server.listen({ handler = echo }))
        assert.are.equal(200, assert(http.request({ url = srv.url .. "/" })).status)
        srv:close()
        srv:close() -- idempotent
        local res, err = http.request({ url = srv.url .. "/", connect_timeout = 5 })
        assert.is_nil(res)
        assert.matches("onnect", err)
      end)
    end)
  end)

  describe("requests", function()
    it("hands the handler method, raw path, query, args, headers, body and remote", function()
      with_server(echo, function(srv)
        local res = assert(http.request({
          method = "POST",
          url = srv.url .. "/a%2Fb/c?x=1&y=a+b%20c&x=2&flag&bad=%zz",
          headers = { ["X-Smop-Test"] = "yes", ["Content-Type"] = "text/plain" },
          body = "hello\0world",
        }))
        assert.are.equal(200, res.status)
        assert.are.equal("application/json", res.headers["content-type"])
        assert.are.equal("42", res.headers["x-count"])
        local got = json.decode(res.body)
        assert.are.equal("POST", got.method)
        assert.are.equal("/a%2Fb/c", got.path)
        assert.are.equal("x=1&y=a+b%20c&x=2&flag&bad=%zz", got.query)
        assert.are.same({ x = "2", y = "a b c", flag = "", bad = "%zz" }, got.args)
        assert.are.equal("yes", got.headers["x-smop-test"])
        assert.are.equal("text/plain", got.headers["content-type"])
        assert.are.equal("11", got.headers["content-length"])
        assert.are.equal("hello\0world", got.body)
        assert.matches("^127%.0%.0%.1:%d+$", got.remote)
      end)
    end)

    it("gives a GET no query and an empty body; HEAD gets headers only", function()
      with_server(echo, function(srv)
        local got = json.decode(assert(http.request({ url = srv.url .. "/plain" })).body)
        assert.are.equal("GET", got.method)
        assert.are.equal("/plain", got.path)
        assert.are.equal(json.null, got.query)
        assert.are.same({}, got.args)
        assert.are.equal("", got.body)
        local res = assert(http.request({ method = "HEAD", url = srv.url .. "/plain" }))
        assert.are.equal(200, res.status)
        assert.is_true(tonumber(res.headers["content-length"]) > 0)
        assert.are.equal("", res.body)
      end)
    end)

    it("joins repeated request headers", function()
      with_server(echo, function(srv)
        local out = run_bg("curl -s -H 'X-A: 1' -H 'X-A: 2' " .. srv.url .. "/")
        assert.are.equal("1, 2", json.decode(out).headers["x-a"])
      end)
    end)

    it("answers 200 concurrent requests on one thread, each with its own task", function()
      local running, most = 0, 0
      with_server(function(req)
        running = running + 1
        most = math.max(most, running)
        task.sleep(0.01)
        running = running - 1
        return 200, {}, tostring(tonumber(req.args.n) * 2)
      end, function(srv)
        local tasks = {}
        for i = 1, 200 do
          tasks[i] = task.spawn(function()
            return http.request({ url = srv.url .. "/double?n=" .. i })
          end)
        end
        for i = 1, 200 do
          local ok, res, err = task.wait(tasks[i])
          assert.is_true(ok)
          assert(res, err)
          assert.are.equal(200, res.status)
          assert.are.equal(tostring(i * 2), res.body)
        end
      end)
      assert.is_true(most > 1, "handlers ran one at a time")
      assert.are.equal(0, running)
    end)

    it("drops the answer for a client that gave up while the handler waited", function()
      local finished = 0
      with_server(function(req)
        if req.path == "/slow" then
          task.sleep(0.3)
          finished = finished + 1
          return 200, {}, "too late"
        end
        return 200, {}, "quick"
      end, function(srv)
        local res, err = http.request({ url = srv.url .. "/slow", timeout = 0.05 })
        assert.is_nil(res)
        assert.matches("timed out", err)
        eventually(function() return finished == 1 end, "the slow handler to return")
        assert.are.equal("quick", assert(http.request({ url = srv.url .. "/quick" })).body)
      end)
    end)

    it("answers 413 to a body over max_body without calling the handler", function()
      local calls = 0
      with_server({ max_body = 1024, handler = function(req)
        calls = calls + 1
        return 200, {}, tostring(#req.body)
      end }, function(srv)
        local function post(body)
          return assert(http.request({ method = "POST", url = srv.url .. "/", body = body }))
        end
        local res = post(string.rep("x", 1024))
        assert.are.equal(200, res.status)
        assert.are.equal("1024", res.body)
        -- small, large (still being sent when the server knows), chunked, with Expect
        for _, n in ipairs({ 1025, 3 * 1024 * 1024 }) do
          res = post(string.rep("x", n))
          assert.are.equal(413, res.status)
          assert.are.equal("request body too large", json.decode(res.body).message)
        end
        local big = os.tmpname()
        local f = assert(io.open(big, "wb"))
        f:write(string.rep("y", 200000))
        f:close()
        for _, header in ipairs({ "Transfer-Encoding: chunked", "Expect: 100-continue" }) do
          local out = run_bg(string.format("curl -s -i -H %s --data-binary @%s %s",
            quote(header), big, srv.url))
          assert.matches("^HTTP/1.1 413", out)
        end
        os.remove(big)
        assert.are.equal(1, calls)
        res = post("again")
        assert.are.equal("5", res.body)
      end)
    end)

    it("leaves malformed HTTP and oversized heads to MHD, and keeps serving", function()
      with_server(echo, function(srv)
        local out = raw_exchange(srv.port, "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        assert.matches("^HTTP/1.1 400", out)
        -- a request line without spaces: MHD hangs up without an answer
        out = raw_exchange(srv.port, "garbage\r\n\r\n")
        assert.is_true(out == "" or out:match("^HTTP/1.1 400") ~= nil, out)
        out = raw_exchange(srv.port, "\0\1\2\255\r\n\r\n")
        assert.is_true(out == "" or out:match("^HTTP/1.1 400") ~= nil, out)
        -- request line and headers must fit in 32 KiB
        out = run_bg("curl -s -i " .. srv.url .. "/" .. string.rep("a", 40000))
        assert.matches("^HTTP/1.1 414", out)
        out = run_bg("curl -s -i -H 'X-Big: " .. string.rep("a", 40000) .. "' " .. srv.url .. "/")
        assert.matches("^HTTP/1.1 431", out)
        local res = assert(http.request({ url = srv.url .. "/still-here" }))
        assert.are.equal("/still-here", json.decode(res.body).path)
      end)
    end)
  end)

  describe("handler failures", function()
    it("answers 500 with a JSON message when the handler raises, and keeps serving", function()
      with_server(function(req)
        if req.path == "/boom" then
          error("kaboom \"quoted\"")
        end
        return 200, nil, "fine"
      end, function(srv)
        local res = assert(http.request({ url = srv.url .. "/boom" }))
        assert.are.equal(500, res.status)
        assert.are.equal("application/json", res.headers["content-type"])
        assert.matches('kaboom "quoted"', json.decode(res.body).message, 1, true)
        res = assert(http.request({ url = srv.url .. "/ok" }))
        assert.are.equal("fine", res.body)
      end)
    end)

    it("answers 500 when the handler returns no answer or a bad one", function()
      with_server(function(req)
        if req.path == "/nothing" then return end
        if req.path == "/status" then return "200 OK" end
        if req.path == "/range" then return 99 end
        if req.path == "/body" then return 200, {}, {} end
        if req.path == "/headers" then return 200, { "x" }, "" end
        if req.path == "/crlf" then return 200, { ["X-A"] = "a\r\nX-B: b" }, "" end
      end, function(srv)
        local expect = {
          ["/nothing"] = "handler returned no status",
          ["/status"] = "status must be an integer from 100 to 599",
          ["/range"] = "status must be an integer from 100 to 599",
          ["/body"] = "body must be a string",
          ["/headers"] = "headers must map names to strings",
          ["/crlf"] = "invalid response header",
        }
        for path, message in pairs(expect) do
          local res = assert(http.request({ url = srv.url .. path }))
          assert.are.equal(500, res.status, path)
          assert.matches(message, json.decode(res.body).message, 1, true)
        end
      end)
    end)

    it("drops the connection on req:abort()", function()
      with_server(function(req)
        req:abort()
      end, function(srv)
        local res, err = http.request({ url = srv.url .. "/" })
        assert.is_nil(res)
        assert.is_string(err)
      end)
    end)
  end)

  describe("streams", function()
    it("sends a chunked body line by line as a slow handler writes it", function()
      local got_headers = false
      with_server(function(req)
        local w = req:stream(200, { ["Content-Type"] = "text/plain" })
        -- a watch may stay quiet for long: the head must not wait for data
        eventually(function() return got_headers end, "the client to get the headers")
        for i = 1, 5 do
          assert(w:write("line " .. i .. "\n"))
          task.sleep(0.02)
        end
        w:close()
        assert.are.same({ nil, "closed" }, { w:write("late\n") })
      end, function(srv)
        local s = assert(http.stream({ url = srv.url .. "/watch" }))
        got_headers = true
        assert.are.equal(200, s.status)
        assert.are.equal("chunked", s.headers["transfer-encoding"])
        assert.are.equal("text/plain", s.headers["content-type"])
        for i = 1, 5 do
          assert.are.equal("line " .. i, s:read_line())
        end
        local line, err = s:read_line()
        assert.is_nil(line)
        assert.is_nil(err)
      end)
    end)

    it("closes a stream the handler leaves open when it returns", function()
      with_server(function(req)
        local w = req:stream(200)
        w:write("only\n")
      end, function(srv)
        local res = assert(http.request({ url = srv.url .. "/" }))
        assert.are.equal(200, res.status)
        assert.are.equal("only\n", res.body)
      end)
    end)

    it("makes the writer wait for a slow reader, with a bounded buffer", function()
      local LINES = 32 * 1024 -- 32 MiB: more than the client's queue and the sockets hold
      local outcome
      with_server(function(req)
        local w = req:stream(200)
        local line = string.rep("x", 1023) .. "\n"
        for _ = 1, LINES do
          assert(w:write(line))
          assert(w:buffered() <= 1024 * 1024) -- a write returns once below the bound
        end
        w:close()
        outcome = "done"
      end, function(srv)
        local s = assert(http.stream({ url = srv.url .. "/" }))
        task.sleep(0.3)
        assert.is_nil(outcome) -- the writer is held up while nobody reads
        local n = 0
        while s:read_line() do
          n = n + 1
        end
        assert.are.equal(LINES, n)
        assert.are.equal("done", outcome)
      end)
    end)

    it("tells the writer 'closed' once the client hangs up", function()
      local writes, err
      local client_gone = false
      with_server(function(req)
        local w = req:stream(200)
        assert(w:write("first\n"))
        assert(w:write("second\n"))
        eventually(function() return client_gone end, "the client to hang up")
        task.sleep(0.2) -- the hang-up reaches the server while it idles
        writes, err = 0, nil
        repeat
          local ok
          ok, err = w:write("more\n")
          writes = writes + 1
        until not ok
      end, function(srv)
        local s = assert(http.stream({ url = srv.url .. "/" }))
        assert.are.equal("first", s:read_line())
        assert.are.equal("second", s:read_line())
        s:close()
        client_gone = true
        eventually(function() return err ~= nil end, "the handler to see the hang-up")
      end)
      assert.are.equal("closed", err)
      assert.are.equal(1, writes) -- noticed while suspended, not at a failed send
    end)

    it("drops the connection mid-body on w:abort(): the client sees a transport error", function()
      with_server(function(req)
        local w = req:stream(200)
        assert(w:write("partial\n"))
        task.sleep(0.02)
        w:abort()
        assert.are.same({ nil, "closed" }, { w:write("never\n") })
      end, function(srv)
        local s = assert(http.stream({ url = srv.url .. "/" }))
        assert.are.equal("partial", s:read_line())
        local line, err = s:read_line()
        assert.is_nil(line)
        assert.is_string(err)
        local res
        res, err = http.request({ url = srv.url .. "/" })
        assert.is_nil(res)
        assert.is_string(err)
      end)
    end)

    it("drops the connection when the handler fails mid-stream", function()
      with_server(function(req)
        local w = req:stream(200)
        w:write("before\n")
        error("broken")
      end, function(srv)
        local s = assert(http.stream({ url = srv.url .. "/" }))
        assert.are.equal("before", s:read_line())
        local line, err = s:read_line()
        assert.is_nil(line)
        assert.is_string(err)
      end)
    end)

    it("closes open streams and running handlers with the server", function()
      local stream_err, slow_done
      task.run(function()
        local srv = assert(server.listen({ handler = function(req)
          if req.path == "/slow" then
            task.sleep(0.2)
            slow_done = true
            return 200, {}, "too late"
          end
          local w = req:stream(200)
          while true do
            local ok, err = w:write("tick\n")
            if not ok then
              stream_err = err
              return
            end
            task.sleep(0.01)
          end
        end }))
        local s = assert(http.stream({ url = srv.url .. "/stream" }))
        assert.are.equal("tick", s:read_line())
        local slow = task.spawn(http.request, { url = srv.url .. "/slow" })
        task.sleep(0.05)
        srv:close()
        local line, err
        repeat
          line, err = s:read_line()
        until not line
        assert.is_string(err)
        local ok, res, rerr = task.wait(slow)
        assert.is_true(ok)
        assert.is_nil(res)
        assert.is_string(rerr)
        eventually(function() return stream_err and slow_done end, "the handlers to finish")
      end)
      assert.are.equal("closed", stream_err)
    end)
  end)

  describe("over TLS", function()
    local dir

    local function sh(cmd)
      assert(os.execute(cmd .. " >/dev/null 2>&1"), cmd)
    end

    setup(function()
      dir = os.tmpname()
      os.remove(dir)
      sh("mkdir " .. dir)
      sh(string.format("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        .. "-nodes -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 1 "
        .. "-keyout key.pem -out cert.pem", dir))
    end)

    teardown(function()
      os.execute("rm -rf " .. dir)
    end)

    it("serves https with a PEM cert and key, verified by the client", function()
      local tls = { cert = slurp(dir .. "/cert.pem"), key = slurp(dir .. "/key.pem") }
      local stream_err
      with_server({ tls = tls, handler = function(req)
        if req.path == "/stream" then
          local w = req:stream(200)
          repeat
            local ok
            ok, stream_err = w:write("secure line\n")
            task.sleep(0.01)
          until not ok
          return
        end
        return echo(req)
      end }, function(srv)
        assert.are.equal("https://127.0.0.1:" .. srv.port, srv.url)
        local res = assert(http.request({ method = "PUT", url = srv.url .. "/x?y=1",
          headers = { Authorization = "Bearer token" }, body = "b", ca_file = dir .. "/cert.pem" }))
        assert.are.equal(200, res.status)
        local got = json.decode(res.body)
        assert.are.equal("Bearer token", got.headers.authorization)
        assert.are.equal("/x", got.path)
        local s = assert(http.stream({ url = srv.url .. "/stream", ca_file = dir .. "/cert.pem" }))
        assert.are.equal("secure line", s:read_line())
        s:close() -- a TLS client going away mid-stream (no SIGPIPE either)
        eventually(function() return stream_err end, "the TLS writer to see the hang-up")
        assert.are.equal("closed", stream_err)
        -- without the certificate in the trust store, the client refuses
        local bad, err = http.request({ url = srv.url .. "/" })
        assert.is_nil(bad)
        assert.matches("certificate", err)
        -- and plain HTTP on the TLS port gets no answer
        res, err = http.request({ url = "http://127.0.0.1:" .. srv.port .. "/" })
        assert.is_true(res == nil or res.status == 400, tostring(err))
      end)
    end)

    it("fails clearly for a bad certificate or key", function()
      task.run(function()
        local srv, err = server.listen({ handler = echo, tls = { cert = "not a cert", key = "no key" } })
        assert.is_nil(srv)
        assert.matches("^listen 127%.0%.0%.1:%d+: .*certificate", err)
      end)
    end)
  end)
end)
