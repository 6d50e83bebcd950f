-- Headless Neovim driver (0.7 and 0.11): start the PerfRL server for the current buffer, run
-- "Optimize `missing_skus` with PerfRL" with a candidate whose tests sleep, wait until the
-- job's sandboxed test run is under way, then quit Neovim with `qall!` while the job runs.
-- Neovim then stops its language servers itself (shutdown, exit); the test checks that the
-- server and everything it started are gone, and that nothing was left on disk.
--
-- Environment: PERFRL_SERVER_CMD (JSON list), PERFRL_ROOT, PERFRL_CANDIDATES, PERFRL_WAIT_MS.
-- Ends with `qall!` once the job runs and `cquit 1` on any error (the error goes to stderr).

local function fail(msg)
  io.stderr:write('perfrl-nvim-driver: ' .. tostring(msg) .. '\n')
  vim.cmd('cquit 1')
end

local function main()
  local cmd = vim.fn.json_decode(os.getenv('PERFRL_SERVER_CMD'))
  local wait_ms = tonumber(os.getenv('PERFRL_WAIT_MS') or '240000')
  local perfrl = { sources = {}, extraCandidateDirs = { os.getenv('PERFRL_CANDIDATES') } }
  local bufnr = vim.api.nvim_get_current_buf()
  local testing = false

  local client_id = vim.lsp.start_client({
    name = 'perfrl',
    cmd = cmd,
    root_dir = os.getenv('PERFRL_ROOT'),
    init_options = { perfrl = perfrl },
    settings = { perfrl = perfrl },
    handlers = {
      ['$/progress'] = function(_, result)
        local value = result and result.value or {}
        if type(value.message) == 'string' and value.message:find('testing', 1, true) then
          testing = true
        end
      end,
      ['window/showMessage'] = function() end,
    },
  })
  assert(client_id, 'the server did not start')
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  assert(vim.wait(30000, function() return client.initialized end, 20), 'no initialize')

  local line
  for i, text in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    if text:find('missing.append(sku)', 1, true) then line = i - 1 end
  end
  assert(line, 'missing_skus not found in the buffer')
  local responses = vim.lsp.buf_request_sync(bufnr, 'workspace/executeCommand', {
    command = 'perfrl.optimizeFunction',
    arguments = { vim.uri_from_bufnr(bufnr), line },
  }, 20000)
  local response = responses and responses[client_id]
  assert(response and not response.err and response.result and response.result.jobId,
    'perfrl.optimizeFunction: ' .. vim.inspect(response))
  assert(vim.wait(wait_ms, function() return testing end, 50),
    'the job never reached its candidate test run')
  vim.cmd('qall!')
end

local ok, err = pcall(main)
if not ok then fail(err) end
