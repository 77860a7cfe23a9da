-- smop.tls: a CA and a server certificate made at start, checked with the
-- openssl CLI and used for real by smop.server and smop.http.
local http = require("smop.http")
local server = require("smop.server")
local smop = require("spec.support.smop")
local task = require("smop.task")
local tls = require("smop.tls")

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

describe("smop.tls", function()
  local ca, cert, dir

  setup(function()
    ca = assert(tls.new_ca({ common_name = "spec CA", days = 30 }))
    cert = assert(tls.new_cert({ ca = ca, common_name = "localhost", dns = { "localhost" },
      ip = { "127.0.0.1", "::1" }, days = 30 }))
    dir = smop.tempdir()
    smop.write(dir .. "/ca.pem", ca.cert)
    smop.write(dir .. "/cert.pem", cert.cert)
    smop.write(dir .. "/key.pem", cert.key)
  end)

  teardown(function()
    os.execute("rm -rf " .. smop.quote(dir))
  end)

  it("makes an EC P-256 CA with basicConstraints CA:TRUE", function()
    assert.matches("^%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-\n", ca.cert)
    assert.matches("^%-%-%-%-%-BEGIN PRIVATE KEY%-%-%-%-%-\n", ca.key)
    local text = sh("openssl x509 -noout -text -in " .. smop.quote(dir .. "/ca.pem"))
    assert.matches("Subject: CN ?= ?spec CA", text)
    assert.matches("X509v3 Basic Constraints: critical\n%s+CA:TRUE", text)
    assert.matches("Certificate Sign", text)
    assert.matches("ASN1 OID: prime256v1", text)
  end)

  it("makes a server certificate the CA signed, for 127.0.0.1, ::1 and localhost", function()
    local out, code = sh(string.format("openssl verify -CAfile %s %s", smop.quote(dir .. "/ca.pem"),
      smop.quote(dir .. "/cert.pem")))
    assert.are.equal(0, code, out)
    local text = sh("openssl x509 -noout -text -in " .. smop.quote(dir .. "/cert.pem"))
    assert.matches("DNS:localhost, IP Address:127%.0%.0%.1, IP Address:0:0:0:0:0:0:0:1", text)
    assert.matches("CA:FALSE", text)
    assert.matches("TLS Web Server Authentication", text)
    assert.matches("ASN1 OID: prime256v1", text)
    -- valid from (about) now for the days asked
    local dates = sh("openssl x509 -noout -checkend 2505600 -in " .. smop.quote(dir .. "/cert.pem"))
    assert.matches("will not expire", dates)
    dates = sh("openssl x509 -noout -checkend 2678400 -in " .. smop.quote(dir .. "/cert.pem"))
    assert.matches("will expire", dates)
  end)

  it("serves HTTPS that a client trusting only the CA accepts", function()
    task.run(function()
      local srv = assert(server.listen({ tls = cert, handler = function() return 200, {}, "hello" end }))
      local ca_file = dir .. "/ca.pem"
      local r = assert(http.request({ url = "https://127.0.0.1:" .. srv.port .. "/", ca_file = ca_file }))
      assert.are.equal(200, r.status)
      assert.are.equal("hello", r.body)
      local r2 = assert(http.request({ url = "https://localhost:" .. srv.port .. "/", ca_file = ca_file }))
      assert.are.equal(200, r2.status)
      local bad, err = http.request({ url = "https://127.0.0.1:" .. srv.port .. "/" })
      assert.is_nil(bad)
      assert.is_string(err)
      srv:close()
    end)
  end)

  it("refuses a CA key that does not match its certificate, and bad PEM", function()
    local other = assert(tls.new_ca({}))
    local c, err = tls.new_cert({ ca = { cert = ca.cert, key = other.key }, dns = { "x" } })
    assert.is_nil(c)
    assert.are.equal("tls: ca.key does not match ca.cert", err)
    c, err = tls.new_cert({ ca = { cert = "not pem", key = ca.key }, dns = { "x" } })
    assert.is_nil(c)
    assert.matches("^tls: reading ca.cert", err)
    c, err = tls.new_cert({ ca = ca, ip = { "300.1.2.3" } })
    assert.is_nil(c)
    assert.matches("^tls: ", err)
  end)

  it("treats wrong argument types as programmer errors", function()
    assert.has_error(function() tls.new_ca("x") end)
    assert.has_error(function() tls.new_ca({ days = 0 }) end)
    assert.has_error(function() tls.new_cert({ ca = ca }) end) -- no names
    assert.has_error(function() tls.new_cert({ ca = ca, dns = { "a,b" } }) end)
    assert.has_error(function() tls.random_hex(0) end)
  end)

  it("gives random hex tokens and SHA-512 hex digests", function()
    local a, b = tls.random_hex(32), tls.random_hex(32)
    assert.matches("^%x+$", a)
    assert.are.equal(64, #a)
    assert.are_not.equal(a, b)
    assert.are.equal("DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A"
      .. "2192992A274FC1A836BA3C23A3F"
      .. "EEBBD454D4423643CE80E2A9AC94FA54CA49F", tls.sha512_hex("abc"))
  end)
end)
