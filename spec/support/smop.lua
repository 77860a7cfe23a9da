-- Helpers for specs that run the real smop binary as a user would.
local M = {}

M.bin = os.getenv("SMOP_BIN") or "build/smop"

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.quote = shell_quote

-- Runs smop with the given arguments; returns stdout, stderr, exit code.
function M.run(args, opts)
  opts = opts or {}
  local parts = {}
  for _, a in ipairs(args) do parts[#parts + 1] = shell_quote(a) end
  local errfile = os.tmpname()
  local cmd = string.format("%s%s %s 2>%s", opts.env or "", shell_quote(M.bin),
    table.concat(parts, " "), shell_quote(errfile))
  if opts.stdin then
    cmd = "printf '%s' " .. shell_quote(opts.stdin) .. " | " .. cmd
  end
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local f = assert(io.open(errfile, "r"))
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  return out, err, code
end

-- A fresh private temporary directory.
function M.tempdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. shell_quote(dir)))
  return dir
end

-- Writes text to path (replacing it).
function M.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Writes text to a fresh temporary file and returns its path.
function M.tempfile(text, suffix)
  local path = os.tmpname() .. (suffix or "")
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

return M
