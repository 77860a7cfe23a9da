-- `smop version`
local M = {}

function M.run(sys)
  sys.stdout("smop " .. (sys.version or "dev") .. "\n")
  return 0
end

return M
