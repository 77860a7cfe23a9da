-- smop.sigv4 against the AWS SigV4 test suite (spec/fixtures/sigv4/v4) and its
-- failure cases. The C tests (spec/c/test_sigv4.c) run every vector; these
-- check what the binding adds: url parsing, the Host header, the headers
-- table and the returned tables.
local sigv4 = require("smop.sigv4")

local SUITE = "spec/fixtures/sigv4/v4/"
local SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
local SUITE_TIME = 1440938160 -- 2015-08-30T12:36:00Z

local function fixture(case, file)
  local f = assert(io.open(SUITE .. case .. "/" .. file, "rb"))
  local s = f:read("a")
  f:close()
  return (s:gsub("\n$", ""))
end

-- The Authorization line of a case's signed request.
local function expected_authorization(case)
  return fixture(case, "header-signed-request.txt"):match("\nAuthorization:([^\n]+)")
end

local function suite_request(t)
  local req = {
    method = "GET",
    url = "https://example.amazonaws.com/",
    region = "us-east-1",
    service = "service",
    access_key_id = "AKIDEXAMPLE",
    secret_access_key = SECRET,
    time = SUITE_TIME,
  }
  for k, v in pairs(t or {}) do req[k] = v end
  return req
end

local function check_case(case, add, dbg)
  assert.are.equal(fixture(case, "header-canonical-request.txt"), dbg.canonical_request)
  assert.are.equal(fixture(case, "header-string-to-sign.txt"), dbg.string_to_sign)
  assert.are.equal(fixture(case, "header-signature.txt"), dbg.signature)
  assert.are.equal(expected_authorization(case), add.Authorization)
  assert.are.equal("20150830T123600Z", add["X-Amz-Date"])
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("smop.sigv4.sign", function()
  it("signs a session-token vector, adding Host, date, token and Authorization", function()
    local token = fixture("get-vanilla-with-session-token", "context.json")
      :match('"token": "([^"]+)"')
    local add, dbg = sigv4.sign(suite_request({ session_token = token }))
    check_case("get-vanilla-with-session-token", add, dbg)
    assert.are.equal(token, add["X-Amz-Security-Token"])
    assert.are.equal("example.amazonaws.com", add.Host)
    assert.are.equal(4, count(add))
  end)

  it("signs repeated headers given as a list, keeping the Host given", function()
    local add, dbg = sigv4.sign(suite_request({
      headers = { host = "example.amazonaws.com", ["My-Header1"] = { "value2", "value2", "value1" } },
    }))
    check_case("get-header-key-duplicate", add, dbg)
    assert.is_nil(add.Host)
    assert.is_nil(add["X-Amz-Security-Token"])
  end)

  it("signs the query of the url, and a body with X-Amz-Content-Sha256", function()
    local add, dbg = sigv4.sign(suite_request({
      url = "https://example.amazonaws.com/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1#frag",
    }))
    check_case("get-vanilla-query-order-encoded", add, dbg)

    add, dbg = sigv4.sign(suite_request({
      method = "POST",
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Content-Length"] = "13" },
      body = "Param1=value1",
      content_sha256 = true,
    }))
    check_case("post-x-www-form-urlencoded", add, dbg)
    assert.are.equal("9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
      add["X-Amz-Content-Sha256"])
  end)

  it("normalizes the path unless told not to, or for s3", function()
    local add, dbg = sigv4.sign(suite_request({ url = "https://example.amazonaws.com//example//" }))
    check_case("get-slashes-normalized", add, dbg)
    add, dbg = sigv4.sign(suite_request({
      url = "https://example.amazonaws.com//example//", normalize_path = false }))
    check_case("get-slashes-unnormalized", add, dbg)

    -- s3: escapes decoded and encoded once, dots and slashes kept, payload hash sent
    add, dbg = sigv4.sign(suite_request({
      service = "s3", url = "https://b.s3.amazonaws.com//a%20b/./c", payload_hash = "UNSIGNED-PAYLOAD" }))
    assert.matches("^GET\n//a%%20b/%./c\n", dbg.canonical_request)
    assert.are.equal("UNSIGNED-PAYLOAD", add["X-Amz-Content-Sha256"])
    -- every other service: the escaped path is encoded again
    add, dbg = sigv4.sign(suite_request({ url = "https://example.amazonaws.com//a%20b/./c" }))
    assert.matches("^GET\n/a%%2520b/c\n", dbg.canonical_request)
    assert.is_nil(add["X-Amz-Content-Sha256"])
  end)

  it("builds Host as curl sends it: default ports left out", function()
    local cases = {
      { "https://example.amazonaws.com:443/", "example.amazonaws.com" },
      { "http://127.0.0.1:80", "127.0.0.1" },
      { "http://127.0.0.1:443/", "127.0.0.1:443" },
      { "https://localhost:8443/x?y=1", "localhost:8443" },
      { "HTTP://[::1]:9000/", "[::1]:9000" },
      { "https://[::1]", "[::1]" },
    }
    for _, c in ipairs(cases) do
      local add, dbg = sigv4.sign(suite_request({ url = c[1] }))
      assert.are.equal(c[2], add.Host)
      assert.matches("\nhost:" .. c[2]:gsub("%p", "%%%0") .. "\n", dbg.canonical_request)
    end
  end)

  it("defaults time to now", function()
    local req = suite_request()
    req.time = nil
    local add = sigv4.sign(req)
    assert.matches("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ$", add["X-Amz-Date"])
    assert.matches("Credential=AKIDEXAMPLE/" .. add["X-Amz-Date"]:sub(1, 8) .. "/us%-east%-1/",
      add.Authorization)
  end)

  it("returns nil and a message for expected failures, never the secret", function()
    local failing = {
      { { access_key_id = false }, "missing access key id" },
      { { secret_access_key = false }, "missing secret access key" },
      { { region = false }, "missing region" },
      { { method = false }, "missing method" },
      { { url = false }, "missing url" },
      { { url = "ftp://example.amazonaws.com/" }, "http:// or https://" },
      { { url = "https:///path" }, "no host" },
      { { url = "https://user:pw@example.amazonaws.com/" }, "user info" },
      { { url = "https://AKID:" .. SECRET .. "@example.amazonaws.com/" }, "sigv4.sign: url" },
      { { url = "https://example.amazonaws.com:99999/" }, "bad port" },
      { { url = "https://example.amazonaws.com:/" }, "bad port" },
      { { url = "https://[::1/" }, "IPv6" },
      { { url = "https://example.amazonaws.com/?a=%zz" }, "bad %-escape" },
      { { headers = { Authorization = "x" } }, "set by the signer" },
      { { headers = { ["X-Amz-Security-Token"] = "tok" } }, "set by the signer" },
      { { headers = { ["Bad Name"] = "x" } }, "not an HTTP token" },
      { { headers = { ["X-One"] = "1", ["x-one"] = "2" } }, "given twice" },
      { { time = 0 / 0 }, "time is out of range" },
      { { session_token = "TOKEN-SECRET", headers = { Host = "h", ["x-amz-date"] = "d" } },
        "set by the signer" },
    }
    for _, f in ipairs(failing) do
      local req = suite_request()
      for k, v in pairs(f[1]) do req[k] = v or nil end
      local add, err = sigv4.sign(req)
      assert.is_nil(add)
      assert.is_string(err)
      assert.matches(f[2], err, 1, true)
      assert.is_nil(err:find(SECRET, 1, true))
      assert.is_nil(err:find("TOKEN-SECRET", 1, true))
    end
  end)

  it("raises for arguments of the wrong type", function()
    assert.has_error(function() sigv4.sign("GET") end)
    assert.has_error(function() sigv4.sign(suite_request({ region = 1 })) end,
      "sigv4.sign: field 'region' must be a string, not number")
    assert.has_error(function() sigv4.sign(suite_request({ headers = "Host: x" })) end)
    assert.has_error(function() sigv4.sign(suite_request({ headers = { X = true } })) end)
    assert.has_error(function() sigv4.sign(suite_request({ headers = { X = { 1 } } })) end)
    assert.has_error(function() sigv4.sign(suite_request({ time = "now" })) end)
    assert.has_error(function() sigv4.sign(suite_request({ normalize_path = "no" })) end)
    local ok, err = pcall(sigv4.sign, suite_request({ secret_access_key = 42 }))
    assert.is_false(ok)
    assert.is_nil(tostring(err):find("42", 1, true))
  end)
end)

describe("smop.sigv4 hashes", function()
  it("computes SHA-256 and HMAC-SHA256 in hex", function()
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      sigv4.sha256_hex("abc"))
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      sigv4.sha256_hex(""))
    -- RFC 4231 test cases 2 and 1 (a raw 20-byte key)
    assert.are.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      sigv4.hmac_sha256_hex("Jefe", "what do ya want for nothing?"))
    assert.are.equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      sigv4.hmac_sha256_hex(string.rep("\x0b", 20), "Hi There"))
    -- an empty key is a key, not "reuse the previous one" (OpenSSL's NULL key)
    assert.are.equal("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
      sigv4.hmac_sha256_hex("", ""))
    assert.has_error(function() sigv4.sha256_hex() end)
  end)

  it("derives the suite's signature by hand", function()
    local function hmac_raw(key, msg)
      local hex = sigv4.hmac_sha256_hex(key, msg)
      return (hex:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
    end
    local k = hmac_raw("AWS4" .. SECRET, "20150830")
    k = hmac_raw(k, "us-east-1")
    k = hmac_raw(k, "service")
    k = hmac_raw(k, "aws4_request")
    local _, dbg = sigv4.sign(suite_request())
    assert.are.equal(fixture("get-vanilla", "header-signature.txt"),
      sigv4.hmac_sha256_hex(k, dbg.string_to_sign))
    assert.are.equal(dbg.string_to_sign:match("[0-9a-f]+$"), sigv4.sha256_hex(dbg.canonical_request))
  end)
end)
