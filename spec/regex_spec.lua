-- smop.regex: PCRE2 in UTF-8 mode, and the Java dialect of the AWS models
-- (src/lregex.c).
local regex = require "smop.regex"
local smop = require "spec.support.smop"

local function compile(p, flags) return assert(regex.compile(p, flags)) end

describe("smop.regex", function()
  describe("compile", function()
    it("returns a regex that prints its pattern", function()
      local re = compile("a+b")
      assert.equal("regex: a+b", tostring(re))
    end)

    it("names the offset of a syntax error", function()
      local re, err = regex.compile("ab(c")
      assert.is_nil(re)
      assert.equal("regex: missing closing parenthesis at offset 4", err)
      re, err = regex.compile("a{2,1}")
      assert.is_nil(re)
      assert.matches("^regex: .* at offset 5$", err)
    end)

    it("takes the flags imsxj and refuses others as a bug", function()
      assert.is_true(compile("ABC", "i"):full("abc"))
      assert.is_true(compile("^b$", "m"):test("a\nb\nc"))
      assert.is_true(compile("a.b", "s"):full("a\nb"))
      assert.is_true(compile("a b # comment", "x"):full("ab"))
      assert.has_error(function() regex.compile("a", "q") end)
      assert.has_error(function() regex.compile(nil) end)
    end)
  end)

  describe("test, full and match", function()
    it("test searches, full matches the whole subject as Java's matches()", function()
      local re = compile("[0-9]+")
      assert.is_true(re:test("abc123def"))
      assert.is_false(re:full("abc123def"))
      assert.is_true(re:full("123"))
      assert.is_false(re:test("abc"))
      -- full backtracks to reach the end, as matches() does
      assert.is_true(compile("a|ab"):full("ab"))
      assert.is_false(compile("a|ab"):full("abc"))
    end)

    it("match returns the captures, false for a group that took no part", function()
      assert.same({ "2019", "11" }, { compile("(\\d+)-(\\d+)"):match("x 2019-11 y") })
      local a, b = compile("(a)|(b)"):match("b")
      assert.is_false(a)
      assert.equal("b", b)
      assert.equal("123", compile("\\d+"):match("abc123"))
      assert.is_nil(compile("\\d+"):match("abc"))
    end)

    it("takes init as string.find does", function()
      local re = compile("\\d")
      assert.equal("3", re:match("1a2b3", 4))
      assert.equal("3", re:match("1a2b3", -1))
      assert.equal("1", re:match("1a2b3", -100))
      assert.is_nil(re:match("1a2b3", 6))
      assert.is_false(re:test("1a2b3", 7))
      assert.is_true(re:test("1a2b3", 5))
      -- lookbehind sees the text before init
      assert.equal("b", compile("(?<=a)b"):match("ab", 2))
    end)

    it("works in code points", function()
      assert.is_true(compile("^.$"):test("é"))
      assert.is_true(compile("^\\p{L}{3}$"):test("日本語"))
      assert.equal("ö", compile("w(.)r"):match("wörld"))
      assert.is_true(compile("(?i)ÉTÉ"):full("été"))
    end)

    it("does not fail on invalid UTF-8 in the subject: those bytes never match", function()
      local re = compile("b")
      assert.is_true(re:test("a\xffb"))
      assert.is_false(compile("^.+$"):test("a\xffb"))
      assert.is_false(re:test("\xff", 1))
    end)

    it("refuses to search a subject over 1 MiB, but full still checks it", function()
      local big = string.rep("a", (1 << 20) + 1)
      local ok, err = compile("b"):test(big)
      assert.is_nil(ok)
      assert.equal("regex: subject of 1048577 bytes is over the 1 MiB limit", err)
      assert.is_nil(compile("b"):match(big))
      assert.is_true(compile("a+"):full(big))
    end)
  end)

  describe("bounded work", function()
    -- classic catastrophic backtracking: exponential without a limit
    local evil = "^(\\w+\\s?)*$"
    local subject = string.rep("a", 40) .. "!"

    it("answers nil and a message when a limit is hit, and raises nothing", function()
      local re = compile(evil)
      for _, call in ipairs({ "test", "full", "match" }) do
        local ok, err = re[call](re, subject)
        assert.is_nil(ok, call)
        assert.equal("regex: match limit exceeded", err, call)
      end
    end)

    it("keeps working after a limit was hit", function()
      local re = compile(evil)
      assert.is_nil(re:test(subject))
      assert.is_true(re:test("some words here"))
      assert.equal("x", compile("(x)"):match("x"))
    end)
  end)

  describe("cache", function()
    it("compiles a pattern once per flags", function()
      local a = assert(regex.cache("ab+c"))
      assert.equal(a, regex.cache("ab+c"))
      assert.equal(a, regex.cache("ab+c", ""))
      local i = assert(regex.cache("ab+c", "i"))
      assert.not_equal(a, i)
      assert.is_true(i:full("ABC"))
    end)

    it("returns compile errors and stays bounded", function()
      local re, err = regex.cache("(")
      assert.is_nil(re)
      assert.matches("at offset 1", err)
      for n = 1, 600 do assert.is_true(regex.cache("x" .. n):full("x" .. n)) end
      assert.is_true(regex.cache("x1"):full("x1"))
    end)
  end)

  describe("finalizers", function()
    it("a match run by a finalizer while captures are made changes nothing", function()
      local re = compile("(\\w+)-(\\w+)")
      local inner = {}
      for round = 1, 200 do
        setmetatable({}, { __gc = function() inner[#inner + 1] = re:match("in-side") end })
        local a, b = re:match("round" .. round .. "-" .. string.rep("z", round))
        assert.equal("round" .. round, a)
        assert.equal(string.rep("z", round), b)
      end
      collectgarbage()
      for _, v in ipairs(inner) do assert.equal("in", v) end
    end)
  end)

  describe("the Java dialect (flag j)", function()
    local ARN_OR_NAME = "(arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:[a-z\\-]*\\/)?" ..
      "([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)$"
    -- Each case checked against java.util.regex.Pattern.matches (OpenJDK 17).
    local cases = {
      { "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "abc-def", true },
      { "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "abc-", false },
      { ARN_OR_NAME, "my-algo", true },
      { ARN_OR_NAME, "my-algo-", false },
      { "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", "héllo wörld 日本 ١٢", true },
      { "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", "a!b", false },
      -- a UTF-16 surrogate pair range: every supplementary code point
      { "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]*", "service/x 😀", true },
      { "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\r\\n\\t]*", "a\1b", false },
      -- \u takes four digits: \u10000 is U+1000 then '0', so no emoji here
      { "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+",
        "ok text", true },
      { "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+",
        "😀", false },
      -- Java's POSIX classes are US-ASCII
      { "\\p{Print}+", "policy name~", true },
      { "\\p{Print}+", "pölicy", false },
      -- '.' stops at Java's line terminators, not at form feed
      { ".*", "one line", true },
      { ".*", "two\nlines", false },
      { ".*", "line\u{2028}separator", false },
      { ".*", "form\ffeed", true },
      { "[\\S\\s]*", "two\nlines", true },
      { "^(?!\\s*$).+", "   ", false },
      { "^(?!\\s*$).+", " x ", true },
      -- Java accepts a quantified anchor
      { "^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)${1,128}", "key", true },
      { "^([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)${1,128}", "ke;y", false },
      { "(?!((^[ ]+.*)|(.*([\\u0000-\\u001f]|[\\u007f-\\u009f]|[:/|])+.*)|(.*[ ]+$))).+", "good name", true },
      { "(?!((^[ ]+.*)|(.*([\\u0000-\\u001f]|[\\u007f-\\u009f]|[:/|])+.*)|(.*[ ]+$))).+", "bad:name", false },
    }

    it("matches as java.util.regex does", function()
      for _, c in ipairs(cases) do
        local re = compile(c[1], "j")
        assert.equal(c[3], re:full(c[2]), c[1] .. " on " .. c[2])
      end
    end)

    it("compiles every pattern of the embedded AWS models", function()
      for _, name in ipairs({ "sagemaker", "application_autoscaling", "logs", "sts" }) do
        require("aws.models." .. name) -- see validate_spec: require's second value
      end
      local model = require "aws.model"
      local count = 0
      for _, service in ipairs(model.services()) do
        for name, shape in pairs(model.load(service).shapes) do
          if shape.pattern then
            local re, err = regex.compile(shape.pattern, "j")
            assert(re, service .. " " .. name .. ": " .. tostring(err))
            count = count + 1
          end
        end
      end
      assert.is_true(count > 300)
    end)

    it("names offsets in the Java pattern, not in its translation", function()
      local _, err = regex.compile("\\u0041\\p{Print}(", "j")
      assert.equal("regex: missing closing parenthesis at offset 16", err)
      _, err = regex.compile("a.(?<=a+)", "j")
      assert.equal("regex: lookbehind assertion is not fixed length at offset 2", err)
    end)

    it("refuses what it cannot translate, with the offset", function()
      local _, err = regex.compile("[a-z&&[^aeiou]]", "j")
      assert.equal("regex: character class intersection (&&) is not supported at offset 4", err)
      _, err = regex.compile("[a[b]]", "j")
      assert.equal("regex: nested character classes are not supported at offset 2", err)
      _, err = regex.compile("ab(?s).*", "j")
      assert.matches("^regex: the inline flags %(%?s%) and %(%?d%) are not supported .* at offset 2$", err)
      _, err = regex.compile("x\\uD800", "j")
      assert.equal("regex: a lone UTF-16 surrogate cannot match UTF-8 text at offset 1", err)
    end)

    it("keeps \\Q...\\E literal and '.' free under the s flag", function()
      assert.is_true(compile("\\Q.[\\E.", "j"):full(".[x"))
      assert.is_false(compile("\\Q.[\\E.", "j"):full("x[x"))
      assert.is_true(compile("a.b", "js"):full("a\nb"))
      assert.is_true(compile("[.]", "j"):full("."))
      assert.is_false(compile("[.]", "j"):full("x"))
    end)
  end)

  describe("under a small memory cap", function()
    it("answers nil and a message when PCRE2 is refused memory", function()
      -- PCRE2 allocates from the VM's allocator, so the cap counts its
      -- backtracking frames: this match needs about 10 MiB of them
      local script = smop.tempfile([[
        local regex = require "smop.regex"
        local re = assert(regex.compile("^(a|b)*$"))
        print(re:full(string.rep("a", 60000)))
        print(re:full("abab"))
      ]], ".lua")
      local out, err, code = smop.run({ "--memory-limit", "8", "exec", script })
      os.remove(script)
      assert.equal(0, code, err)
      assert.equal("nil\tregex: not enough memory\ntrue\n", out)
    end)
  end)
end)
