-- smop.http against a local server (spec/support/httpd.py): requests,
-- keep-alive, timeouts, caps, line streams, back-pressure, cancel, TLS.
local http = require("smop.http")
local task = require("smop.task")
local json = require("smop.json")
local server = require("spec.support.server")

local QUEUE_HIGH = 1024 * 1024 -- lhttp.c: a stream pauses past this many queued bytes

local function connections(srv)
  local res = assert(http.request({ url = srv.url("/count") }))
  return tonumber(res.body)
end

describe("smop.http", function()
  local srv

  setup(function()
    srv = server.start()
  end)

  teardown(function()
    srv.stop()
  end)

  describe("request", function()
    it("does not hold a quick request behind a slow one to the same plain-http host", function()
      local order = task.run(function()
        local done = {}
        local slow = task.spawn(function()
          assert(http.request({ url = srv.url("/delay/1500") }))
          done[#done + 1] = "slow"
        end)
        task.sleep(0.05)   -- the slow one is in flight, its headers held back
        assert(http.request({ url = srv.url("/echo") }))
        done[#done + 1] = "quick"
        task.wait(slow)
        return done
      end)
      assert.are.same({ "quick", "slow" }, order)
    end)

    it("returns status, lower-cased headers and body, and sends method, headers, body", function()
      local res = task.run(function()
        return http.request({
          method = "PUT",
          url = srv.url("/echo?x=1"),
          headers = { ["X-Smop-Test"] = "yes", ["Content-Type"] = "application/json" },
          body = '{"a":1}',
        })
      end)
      assert.are.equal(200, res.status)
      assert.are.equal("application/json", res.headers["content-type"])
      assert.is_nil(res.headers["Content-Type"])
      local echo = json.decode(res.body)
      assert.are.equal("PUT", echo.method)
      assert.are.equal("/echo?x=1", echo.path)
      assert.are.equal("yes", echo.headers["x-smop-test"])
      assert.are.equal("application/json", echo.headers["content-type"])
      assert.are.equal('{"a":1}', echo.body)
      assert.are.equal(tostring(#'{"a":1}'), echo.headers["content-length"])
    end)

    it("sends bodies verbatim, with no made-up content type and no Expect", function()
      local body = string.rep("0123456789", 200000) .. "\0end" -- 2 MB, with a NUL
      local res = task.run(function()
        return http.request({ method = "POST", url = srv.url("/echo"), body = body })
      end)
      local echo = json.decode(res.body)
      assert.are.equal("POST", echo.method)
      assert.are.equal(#body, #echo.body)
      assert.are.equal(body, echo.body)
      assert.is_nil(echo.headers["content-type"])
      assert.is_nil(echo.headers["expect"])
    end)

    it("sends DELETE, PATCH without a body and HEAD", function()
      task.run(function()
        local res = assert(http.request({ method = "DELETE", url = srv.url("/echo") }))
        assert.are.equal("DELETE", json.decode(res.body).method)
        res = assert(http.request({ method = "PATCH", url = srv.url("/echo") }))
        local echo = json.decode(res.body)
        assert.are.equal("PATCH", echo.method)
        assert.are.equal("0", echo.headers["content-length"])
        res = assert(http.request({ method = "HEAD", url = srv.url("/bytes/100") }))
        assert.are.equal(200, res.status)
        assert.are.equal("100", res.headers["content-length"])
        assert.are.equal("", res.body)
      end)
    end)

    it("returns HTTP error statuses as answers, not failures", function()
      task.run(function()
        for _, code in ipairs({ 404, 409, 500, 503 }) do
          local res, err = http.request({ url = srv.url("/status/" .. code) })
          assert.is_nil(err)
          assert.are.equal(code, res.status)
          assert.are.equal("status " .. code .. "\n", res.body)
        end
      end)
    end)

    it("runs 200 concurrent requests on the one thread over reused connections", function()
      local before = task.run(connections, srv)
      local results = task.run(function()
        local handles = {}
        for i = 1, 200 do
          handles[i] = task.spawn(function()
            local res, err = http.request({ url = srv.url("/echo?i=" .. i) })
            if not res then return nil, err end
            return res.status, json.decode(res.body).path
          end)
        end
        local out = {}
        for i = 1, 200 do
          out[i] = { task.wait(handles[i]) }
        end
        return out
      end)
      for i = 1, 200 do
        local ok, status, path = table.unpack(results[i])
        assert.is_true(ok)
        assert.are.equal(200, status, tostring(path))
        assert.are.equal("/echo?i=" .. i, path)
      end
      -- at most 64 connections per host (http.h), and the /count request itself
      local during = task.run(connections, srv)
      assert.is_true(during - before <= 64 + 1, "connections opened: " .. (during - before))
      -- sequential requests reuse one kept-alive connection
      local after = task.run(function()
        for _ = 1, 20 do assert(http.request({ url = srv.url("/echo") })) end
        return connections(srv)
      end)
      assert.is_true(after - during <= 1, "connections opened: " .. (after - during))
    end)

    it("fails with a timeout and does not wait for the answer", function()
      local res, err = task.run(function()
        return http.request({ url = srv.url("/delay/5000"), timeout = 0.2 })
      end)
      assert.is_nil(res)
      assert.matches("timed out", err)
    end)

    it("caps the response body, by Content-Length and while reading", function()
      task.run(function()
        local res, err = http.request({ url = srv.url("/bytes/1000"), max_response = 100 })
        assert.is_nil(res)
        assert.are.equal("response larger than 100 bytes", err)
        res, err = http.request({ url = srv.url("/bytes/300000?chunked=1"), max_response = 100000 })
        assert.is_nil(res)
        assert.are.equal("response larger than 100000 bytes", err)
        res = assert(http.request({ url = srv.url("/bytes/1000"), max_response = 1000 }))
        assert.are.equal(string.rep("a", 1000), res.body)
      end)
    end)

    it("returns nil, err for a closed port, a bad scheme and a bad header", function()
      local closed = server.start()
      closed.stop()
      task.run(function()
        local res, err = http.request({ url = closed.url("/echo") })
        assert.is_nil(res)
        assert.is_string(err)
        assert.matches("127.0.0.1", err, 1, true)
        assert.is_nil(err:find("\n"))

        res, err = http.request({ url = "ftp://127.0.0.1/" })
        assert.is_nil(res)
        assert.matches("ftp", err)

        res, err = http.request({ url = srv.url("/echo"), headers = { ["X-Bad"] = "a\r\nInjected: 1" } })
        assert.is_nil(res)
        assert.matches("line break", err)
      end)
    end)

    it("rejects wrong arguments and calls outside a task", function()
      assert.has_error(function() task.run(http.request, { url = 1 }) end)
      assert.has_error(function() task.run(http.request, { url = "http://x/", timout = 1 }) end)
      assert.has_error(function() task.run(http.request, { url = "http://x/", headers = { A = 1 } }) end)
      assert.has_error(function() http.request({ url = srv.url("/echo") }) end,
        "http.request must be called from a task")
    end)
  end)

  describe("stream", function()
    local function read_all(s)
      local lines = {}
      while true do
        local line, err = s:read_line()
        if not line then return lines, err end
        lines[#lines + 1] = line
      end
    end

    it("delivers status, headers, then lines split across chunks", function()
      task.run(function()
        local s = assert(http.stream({ url = srv.url("/stream/50?split=1") }))
        assert.are.equal(200, s.status)
        assert.are.equal("text/plain", s.headers["content-type"])
        local lines, err = read_all(s)
        assert.is_nil(err)
        assert.are.equal(50, #lines)
        for i = 1, 50 do assert.are.equal("line " .. i, lines[i]) end
        assert.is_nil(s:read_line()) -- stays at the end
      end)
    end)

    it("strips \\r\\n and delivers a final unterminated line", function()
      task.run(function()
        local s = assert(http.stream({ url = srv.url("/stream/3?crlf=1&split=1&tail=last") }))
        local lines, err = read_all(s)
        assert.is_nil(err)
        assert.are.same({ "line 1", "line 2", "line 3", "last" }, lines)
      end)
    end)

    it("returns error statuses as a stream with the body", function()
      task.run(function()
        local s = assert(http.stream({ url = srv.url("/status/410") }))
        assert.are.equal(410, s.status)
        assert.are.same({ "status 410" }, (read_all(s)))
      end)
    end)

    it("pauses a fast sender for a slow reader, who still gets every line in order", function()
      task.run(function()
        -- 20 MB: far more than the queue bound plus the socket buffers
        local n, size = 20000, 1000
        local s = assert(http.stream({ url = srv.url("/stream/" .. n .. "?size=" .. size) }))
        local most = 0
        for i = 1, n do
          if i == 1 then
            -- nothing read yet: the queue fills up to the bound and stops there
            local deadline = task.now() + 10
            while s:buffered() < QUEUE_HIGH and task.now() < deadline do task.sleep(0.01) end
          end
          if i % 2500 == 1 then
            task.sleep(0.1) -- the sender runs ahead as far as it is let
            most = math.max(most, s:buffered())
          end
          local line = assert(s:read_line())
          assert.are.equal(size, #line)
          local num = tonumber(line:match("^line (%d+)x*$"))
          if num ~= i then assert.are.equal(i, num) end
        end
        assert.is_nil(s:read_line())
        assert.is_true(most >= QUEUE_HIGH, "the queue never filled: " .. most)
        assert.is_true(most <= QUEUE_HIGH + size + 1, "queued " .. most .. " bytes")
      end)
    end)

    it("bounds one line by max_response", function()
      task.run(function()
        local s = assert(http.stream({ url = srv.url("/stream/3?size=500"), max_response = 100 }))
        local lines, err = read_all(s)
        assert.are.equal(0, #lines)
        assert.are.equal("response line larger than 100 bytes", err)
      end)
    end)

    it("fails with nil, err before the headers and after some lines", function()
      local closed = server.start()
      closed.stop()
      task.run(function()
        local s, err = http.stream({ url = closed.url("/stream/3") })
        assert.is_nil(s)
        assert.matches("127.0.0.1", err, 1, true)

        s = assert(http.stream({ url = srv.url("/stream/100?interval_ms=200"), timeout = 1 }))
        local lines
        lines, err = read_all(s)
        assert.is_true(#lines >= 1 and #lines < 100)
        assert.matches("timed out", err)
      end)
    end)

    it("cancels with close, wakes a reader in another task, and cancels on __gc", function()
      task.run(function()
        local base = http.in_flight()
        local s = assert(http.stream({ url = srv.url("/stream/1000?interval_ms=20") }))
        assert.are.equal("line 1", s:read_line())
        assert.are.equal("line 2", s:read_line())
        assert.are.equal(base + 1, http.in_flight())
        s:close()
        assert.are.equal(base, http.in_flight())
        local line, err = s:read_line()
        assert.is_nil(line)
        assert.are.equal("stream closed", err)

        s = assert(http.stream({ url = srv.url("/stream/10?interval_ms=5000") }))
        assert.are.equal("line 1", s:read_line()) -- line 2 comes in 5 s
        local reader = task.spawn(function() return s:read_line() end)
        task.sleep(0.1) -- the reader is waiting for a line
        s:close()
        local ok, rline, rerr = task.wait(reader)
        assert.is_true(ok)
        assert.is_nil(rline)
        assert.are.equal("stream closed", rerr)
        assert.are.equal(base, http.in_flight())

        do
          local _ = assert(http.stream({ url = srv.url("/stream/1000?interval_ms=20") }))
        end
        assert.are.equal(base + 1, http.in_flight())
        collectgarbage()
        collectgarbage()
        assert.are.equal(base, http.in_flight())
      end)
    end)

    it("closes with <close>", function()
      task.run(function()
        local base = http.in_flight()
        do
          local s <close> = assert(http.stream({ url = srv.url("/stream/1000?interval_ms=20") }))
          assert.are.equal("line 1", s:read_line())
        end
        assert.are.equal(base, http.in_flight())
      end)
    end)
  end)
end)

describe("smop.http over TLS", function()
  local dir, srv

  local function sh(cmd)
    assert(os.execute(cmd .. " >/dev/null 2>&1"), cmd)
  end

  local function slurp(path)
    local f = assert(io.open(path, "rb"))
    local text = f:read("a")
    f:close()
    return text
  end

  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    sh("mkdir " .. dir)
    -- a CA, and a server certificate for 127.0.0.1 signed by it
    sh(string.format("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
      .. "-subj /CN=smop-test-ca -keyout ca.key -out ca.pem", dir))
    sh(string.format("cd %s && openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
      .. "-keyout server.key -out server.csr", dir))
    sh(string.format("cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > ext.cnf && "
      .. "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      .. "-days 2 -extfile ext.cnf -out server.pem", dir))
    srv = server.start({ tls = { cert = dir .. "/server.pem", key = dir .. "/server.key" } })
  end)

  teardown(function()
    if srv then srv.stop() end
    os.execute("rm -rf " .. dir)
  end)

  it("verifies the server, with ca_file or ca_pem as the trust store", function()
    task.run(function()
      local res, err = http.request({ url = srv.url("/echo") })
      assert.is_nil(res)
      assert.matches("certificate", err)

      res = assert(http.request({ url = srv.url("/echo"), ca_file = dir .. "/ca.pem" }))
      assert.are.equal(200, res.status)
      res = assert(http.request({ url = srv.url("/echo"), ca_pem = slurp(dir .. "/ca.pem") }))
      assert.are.equal(200, res.status)

      -- the right CA, the wrong name
      res, err = http.request({ url = srv.url("/echo"):gsub("127.0.0.1", "localhost"),
        ca_file = dir .. "/ca.pem" })
      assert.is_nil(res)
      assert.matches("localhost", err)
    end)
  end)
end)
