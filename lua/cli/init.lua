-- The `smop` command line: dispatches `smop <command> ...` to a module
-- cli.<command> whose run(sys, args) returns an exit code.
-- `exec` and `test` are handled by the host itself (src/main.c).

local M = {}

M.commands = {
  { name = "aws", summary = "Sign and send one AWS API call, print the JSON answer",
    usage = "smop aws SERVICE OPERATION [JSON] [--region R] [--endpoint-url URL] [--profile P]" },
  { name = "exec", summary = "Run a Lua file in the operator's sandbox",
    usage = "smop [--memory-limit MiB] [--cpu-budget N] exec FILE [ARGS...]" },
  { name = "test", summary = "Run busted specs inside the host (unsandboxed)",
    usage = "smop test [BUSTED OPTIONS] [PATHS...]" },
  { name = "fake-aws", summary = "Serve a fake SageMaker, Auto Scaling, CloudWatch Logs and STS",
    usage = "smop fake-aws [--listen 127.0.0.1:PORT] [--speed X] [--state FILE] [--credentials K:S]..." },
  { name = "fake-kube", summary = "Serve a fake Kubernetes API for kubectl and the operator",
    usage = "smop fake-kube [--listen 127.0.0.1:PORT] [--crds DIR] [--kubeconfig-out FILE]" },
  { name = "run", summary = "Run the operator against a Kubernetes API server",
    usage = "smop run [--kubeconfig F] [--namespace NS] [--max-concurrent N] [--metrics-addr HOST:PORT]..." },
  { name = "logs", summary = "Print a job's CloudWatch logs, all streams in time order (kubectl smlogs)",
    usage = "smop logs KIND NAME [-n NS] [-f] [--since 10m] [--tail N] [--hide-log-stream-name]" },
  { name = "dev", summary = "Fake Kubernetes + fake AWS + the operator, for kubectl on a laptop",
    usage = "smop dev [--crds DIR] [--kubeconfig-out FILE] [--aws-speed X] [--poll-interval S]" },
  { name = "version", summary = "Print the version", usage = "smop version" },
  { name = "help", summary = "Show this help", usage = "smop help" },
}

local function help(sys)
  local lines = {
    "smop - a Kubernetes operator for Amazon SageMaker",
    "",
    "Usage: smop [GLOBAL OPTIONS] COMMAND [ARGS...]",
    "",
    "Commands:",
  }
  for _, c in ipairs(M.commands) do
    lines[#lines + 1] = string.format("  %-9s %s", c.name, c.summary)
    lines[#lines + 1] = string.format("  %-9s   %s", "", c.usage)
  end
  for _, l in ipairs({
    "",
    "Global options:",
    "  --scripts-dir DIR     load Lua scripts from DIR instead of the built-in ones",
    "  --log-format FORMAT   text (default) or json",
    "  --log-level LEVEL     debug, info (default), warn or error",
    "  --memory-limit MiB    memory cap of the Lua VM (default 256)",
    "  --cpu-budget N        VM instructions a script may run per resume (default 50000000)",
    "  --version, -V         print the version",
    "  --help, -h            show this help",
  }) do
    lines[#lines + 1] = l
  end
  sys.stdout(table.concat(lines, "\n") .. "\n")
  return 0
end

function M.main(sys, args)
  local name = args[1]
  if name == "help" then
    return help(sys)
  end
  for _, c in ipairs(M.commands) do
    if c.name == name and name ~= "exec" and name ~= "test" then
      local rest = table.move(args, 2, #args, 1, {})
      return require("cli." .. name:gsub("%-", "_")).run(sys, rest)
    end
  end
  local names = {}
  for _, c in ipairs(M.commands) do names[#names + 1] = c.name end
  sys.stderr(string.format("smop: unknown command '%s' (commands: %s)\nRun 'smop --help' for usage.\n",
    tostring(name), table.concat(names, ", ")))
  return 2
end

return M
