-- Argument parsing shared by the long-running commands (run, dev): flags
-- described by a table, --help, usage errors, and the log flags.
local M = {}

-- One flag's value: f = { key, "number" (a positive number) | "flag" (no
-- value; --flag=false turns it off) | nil (a string) }; inline is the part
-- after "=", following the next argument. Returns the value or nil, message.
function M.value(f, flag, inline, following)
  if f[2] == "flag" then
    if inline and inline ~= "true" and inline ~= "false" then
      return nil, flag .. " takes no value (or =true, =false), not " .. inline
    end
    return inline ~= "false"
  end
  local v = inline or following
  if v == nil or v == "" then return nil, flag .. " needs a value" end
  if f[2] == "number" then
    local n = tonumber(v)
    if not n or n <= 0 or n ~= n or n == math.huge then
      return nil, flag .. " needs a positive number, not " .. v
    end
    return n
  end
  return v
end

-- flags: flag -> f (as above). Parses args; returns opts or nil, message.
-- With positional, arguments that are not flags are collected into
-- opts.positional instead of refused.
function M.parse(args, flags, positional)
  local opts = { positional = positional and {} or nil }
  local i = 1
  while i <= #args do
    local a = args[i]
    local flag, inline = a:match("^(%-%-?[%w%-]+)=(.*)$")
    flag = flag or a
    local f = flags[flag]
    if flag == "--help" or flag == "-h" then
      opts.help = true
      i = i + 1
    elseif f then
      local v, err = M.value(f, flag, inline, args[i + 1])
      if err then return nil, err end
      opts[f[1]] = v
      i = i + ((inline or f[2] == "flag") and 1 or 2)
    elseif positional and (a:sub(1, 1) ~= "-" or a == "-") then
      opts.positional[#opts.positional + 1] = a
      i = i + 1
    else
      return nil, (positional and "unknown option " or "unknown argument ") .. a
    end
  end
  return opts
end

-- --log-format/--log-level given after the command name.
function M.apply_log_flags(sys, opts)
  if not (opts.log_format or opts.log_level) then return true end
  return sys.set_log({ format = opts.log_format, level = opts.log_level })
end

-- A command's arguments, parsed with flags; check(opts) may refuse them with
-- a message. Applies the log flags and answers --help and usage errors:
-- returns opts, or nil and the exit code.
function M.parse_command(sys, name, args, flags, usage, check)
  local opts, perr = M.parse(args, flags)
  if opts and check then
    perr = check(opts)
    if perr then opts = nil end
  end
  if opts then
    local ok, lerr = M.apply_log_flags(sys, opts)
    if not ok then opts, perr = nil, lerr end
  end
  if not opts then
    sys.stderr("smop " .. name .. ": " .. perr .. "\n" .. usage .. "\n")
    return nil, 2
  end
  if opts.help then
    sys.stdout(usage .. "\n")
    return nil, 0
  end
  return opts
end

return M
